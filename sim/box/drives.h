/* The box's NVMe drives: four data drives and a boot drive, each a PCIe
 * NVMe controller with one namespace.  Their blocks are real: a sparse file
 * in the state directory behind a loop device, whose node the namespace
 * runner places at /dev/nvmeXn1.  The controllers' admin commands (identify,
 * log pages) are answered here, from the character devices /dev/nvmeX and
 * from the namespaces' block devices (libnvme sends identify-namespace
 * there).  Private to sim/box. */
#ifndef TB_SIM_BOX_DRIVES_H
#define TB_SIM_BOX_DRIVES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sim/box/box.h"
#include "sim/box/state.h"

#define SIM_DATA_DRIVES 4
#define SIM_DRIVES SIM_BOX_DRIVES	/* the last is the boot drive */
#define LOOP_MAJOR 7
#define DRIVE_ERROR_LOG 64		/* error log entries kept (the controller's elpe + 1) */
#define DRIVE_MEDIA_RANGES 8		/* injected media error ranges per drive */

struct nvme_error_log_page;

struct sim_drive {
	int index;			/* its slot: root port 0000:c0:01.(index+1); the last is the boot drive */
	int instance;			/* the kernel's controller instance (nvmeN), in probe order */
	char name[16];			/* "nvme0" */
	char bdf[13];
	char pcidir[128];		/* its PCI function, relative to STATE/sys */
	char ctrldir[192];		/* PCIDIR/nvme/nvmeN */
	char model[41], serial[21], firmware[9];
	uint16_t pci_device;
	uint8_t eui64[8], nguid[16];
	uint64_t bytes;
	unsigned lba_shift;		/* 9: 512-byte logical blocks */
	int loop_fd, loop_nr;		/* the loop device that holds its blocks */
	int file_fd;			/* its backing file, which the daemon serves to the loop device */
	int numa_node;

	pthread_mutex_t lock;		/* the error log, media error ranges, slow's clock */
	uint64_t error_count;
	struct nvme_error_log_page *errors;	/* DRIVE_ERROR_LOG entries, newest first */
	atomic_uint_fast64_t media_errors;
	atomic_int thermal;		/* injected: the drive overheats */
	atomic_int gone;		/* injected: the controller dropped off the bus */
	atomic_int temp_mc;		/* composite temperature, from the thermal plant */
	int nmedia;			/* injected: LBA ranges whose reads fail */
	uint64_t media_lo[DRIVE_MEDIA_RANGES], media_hi[DRIVE_MEDIA_RANGES];
	atomic_int slow;		/* injected: bandwidth divided by this (0 or 1: none) */
	atomic_int written;		/* written since its contents were last probed (udev's watch) */
	struct sim_box *box;
	uint64_t busy_until_ns;		/* slow: when the transfers so far end */
};

/* Create the drives (sparse backing files, loop devices), their sysfs
 * files and device nodes.  bytes: each drive's size; order: the slots in
 * the order the kernel probes them (order[N] becomes nvmeN), a permutation
 * (sim_parse_drive_order). */
int drives_build(struct sim_box *b, uint64_t bytes, const int order[SIM_DRIVES], char *err, size_t errlen);
/* Detach the loop devices and remove the backing files. */
void drives_release(struct sim_box *b);
/* Attach a free loop device to the open file (autoclear): its fd and number. */
int loop_attach(int file_fd, unsigned block_size, const char *file_name, int *fd_out, int *nr_out);
struct sim_drive *drive_by_instance(struct sim_box *b, int instance);
/* Refresh the live files (temperature, I/O statistics). */
void drives_tick(struct sim_box *b);
/* udev's "change" event for the drive: its filesystem links made again. */
void drive_udev_change(struct sim_drive *d);
/* Its composite temperature now (an injected thermal fault above the critical limit). */
int drive_temperature_mc(const struct sim_drive *d);
/* Sectors and I/Os the drive's block device has done (its loop device's stat). */
int drive_io_stat(const struct sim_drive *d, uint64_t *reads, uint64_t *read_sectors, uint64_t *writes,
		  uint64_t *write_sectors);
size_t drives_status_json(struct sim_box *b, char *out, size_t len);
size_t drives_status_text(struct sim_box *b, char *out, size_t len);
/* tb sim fault nvmeN KIND [ARG]: thermal, gone, media-error LBA[-LBA], slow
 * FACTOR, clear.  Returns 0 or -EINVAL with msg. */
int drives_fault(struct sim_box *b, const char *target, const char *kind, const char *arg, char *msg, size_t len);

/* drive_io.c: the blocks as the namespace's loop device reads and writes
 * them (blkfs callbacks), and the faults that act on them. */
ssize_t drive_io(void *obj, char *buf, size_t len, uint64_t off, bool write);
int drive_sync(void *obj);
uint64_t drive_size(void *obj);
int drive_fault_media(struct sim_drive *d, const char *range, char *msg, size_t len);
int drive_fault_slow(struct sim_drive *d, const char *factor, char *msg, size_t len);
void drive_fault_clear_io(struct sim_drive *d);

struct conn;
int nvme_open(struct conn *c, const char *path);
long nvme_ioctl(struct conn *c, unsigned long req, uint64_t arg, void *data, uint32_t size, uint32_t *copy_out);

#endif
