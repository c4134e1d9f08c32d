/* The simulated box's PCIe topology: six GPUs, each in its own x16 slot on
 * its own root port of an EPYC (Rome/Milan, SP3) host, as a seven-slot SP3
 * board enumerates them. */
#include <stdio.h>

#include "sim/sim.h"

static const struct sim_gpu_slot slots[SIM_MAX_GPUS] = {
	{ 0x00, 0x01, 0 }, { 0x20, 0x01, 0 }, { 0x40, 0x01, 0 }, { 0x60, 0x03, 0 },
	{ 0x80, 0x01, 0 }, { 0xa0, 0x01, 0 }, { 0xc0, 0x01, 0 }, { 0xe0, 0x01, 0 },
};

const struct sim_gpu_slot *sim_gpu_slot(int gpu)
{
	if (gpu < 0 || gpu >= SIM_MAX_GPUS)
		return NULL;
	return &slots[gpu];
}

/* The switch inside the board takes two bus numbers after the root port's
 * secondary bus, so the GPU function sits three buses below the root. */
static unsigned gpu_bus(int gpu)
{
	return slots[gpu].root_bus + 3u;
}

void sim_gpu_bdf(int gpu, char out[13])
{
	snprintf(out, 13, "0000:%02x:00.0", gpu_bus(gpu) & 0xffu);
}

int sim_gpu_sysfs_dir(int gpu, char *out, size_t len)
{
	if (gpu < 0 || gpu >= SIM_MAX_GPUS)
		return -1;
	const struct sim_gpu_slot *s = &slots[gpu];
	unsigned r = s->root_bus;
	int n = snprintf(out, len,
			 "devices/pci0000:%02x/0000:%02x:%02x.1/0000:%02x:00.0/0000:%02x:00.0/0000:%02x:00.0",
			 r, r, s->port_dev, r + 1, r + 2, r + 3);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}
