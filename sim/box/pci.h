/* PCI functions of the simulated box and their configuration space. */
#ifndef TB_SIM_PCI_H
#define TB_SIM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/box/box.h"

#define PCI_CFG_SIZE 4096

struct pci_bar {
	uint64_t addr, size;
	uint64_t sysfs_flags;	/* IORESOURCE_* bits as the `resource` file shows them */
	bool io, is64, prefetch;
};

struct pci_fn {
	char bdf[13];
	uint8_t bus, dev, fn;
	uint16_t vendor, device, subsys_vendor, subsys_device;
	uint32_t class_code;
	uint8_t revision;
	bool bridge, multifunction, is_pcie;
	uint8_t secondary, subordinate;	/* bridges */
	int pcie_type;			/* PCI_EXP_TYPE_*: 0 endpoint, 4 root port, 5 upstream, 6 downstream */
	int link_speed, link_width, max_link_speed, max_link_width;
	int irq, numa_node;
	struct pci_bar bar[6];
	char driver[32];
	bool fallen_off;		/* reads as all ones */
};

/* The functions from a GPU's root complex down: host bridge, root port,
 * switch upstream and downstream ports, the GPU, its HDMI audio.  Returns
 * the count (6). */
int pci_gpu_chain(const struct sim_gpu *g, struct pci_fn out[6]);
void pci_gpu_function(const struct sim_gpu *g, struct pci_fn *f);
/* Fill the 4 KiB configuration space of a function. */
void pci_config(const struct pci_fn *f, uint8_t cfg[PCI_CFG_SIZE]);
/* The sysfs files of a function at dir (relative to STATE/sys). */
int sysfs_pci_function(const struct sim_box *b, const char *dir, const struct pci_fn *f);

#endif
