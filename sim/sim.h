/* Shared by the parts of the simulated box (sim/): the box's fixed facts.
 * The simulated box is one component; its subdirectories (isa, gpu, kmd,
 * plant, nvme) may include this header, nothing outside sim/ may. */
#ifndef TB_SIM_H
#define TB_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_GPUS 8
#define SIM_DEFAULT_GPUS 6

/* Where one GPU sits on the simulated EPYC host's PCIe tree.  Navi 31 boards
 * carry their own PCIe switch: root port -> upstream port (1002:1478) ->
 * downstream port (1002:1479) -> GPU (1002:744c, function 0) and its HDMI
 * audio (function 1). */
struct sim_gpu_slot {
	uint8_t root_bus;	/* the root complex's bus: 0000:RR:00.0 */
	uint8_t port_dev;	/* the root port: 0000:RR:PP.1 */
	int numa_node;		/* NPS1, the EPYC default: one node */
};

/* PCI address of GPU i as "0000:BB:00.0"; out must hold 13 bytes. */
void sim_gpu_bdf(int gpu, char out[13]);
/* The GPU's device directory relative to the sysfs root, for example
 * "devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0/0000:03:00.0". */
int sim_gpu_sysfs_dir(int gpu, char *out, size_t len);
const struct sim_gpu_slot *sim_gpu_slot(int gpu);

#endif
