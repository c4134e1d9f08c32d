/* The simulated box inside tb-simd: its GPUs and what the simulated kernel
 * knows about processes.  Private to sim/. */
#ifndef TB_SIM_BOX_H
#define TB_SIM_BOX_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"

#define GPU_VRAM_BYTES (24ull << 30)
#define GPU_DOORBELL_BAR (256ull << 20)
#define GPU_MMIO_BAR (1ull << 20)
#define GPU_CUS 96
#define GPU_GFX_VERSION 110000
#define PCI_DEVICE_ID 0x744c
#define PCI_REVISION 0xc8
#define PCI_SUBSYS_VENDOR 0x1002
#define PCI_SUBSYS_DEVICE 0x0e3b
#define DRM_MAJOR 226
#define KFD_MAJOR 236			/* assigned dynamically by the kernel; this is ours */
#define NVME_CHAR_MAJOR 241		/* the nvme controllers' character devices: dynamic too */

struct kfd_process;
struct sim_queue;
struct sim_drive;

/* One free range of VRAM (sorted, coalesced list). */
struct vram_extent {
	uint64_t start, size;
	struct vram_extent *next;
};

/* AER error counts of one PCIe function on a GPU's path (the kernel's
 * aer_dev_correctable / _nonfatal / _fatal files) */
enum sim_aer_hop { AER_ROOT_PORT, AER_SWITCH_UP, AER_SWITCH_DOWN, AER_GPU, AER_HOPS };
/* smu13_driver_if_v13_0_0.h: the SMU 13.0.0 firmware's throttler bits */
#define THROTTLER_TEMP_HOTSPOT_BIT 1
#define THROTTLER_PPT0_BIT 16
/* smu_types.h: the same as the driver's ASIC-independent bits */
#define SMU_THROTTLER_PPT0_BIT 0
#define SMU_THROTTLER_TEMP_HOTSPOT_BIT 36

#define VRAM_STUCK_RANGES 8
#define VRAM_STUCK_MAX_BYTES 65536	/* per range (fault.c's message says so): each is re-asserted before every packet */

struct sim_aer {
	atomic_uint_fast64_t rx_err, bad_tlp;		/* correctable */
	atomic_uint_fast64_t surprise_down, cmplt_to;	/* uncorrectable, non-fatal */
};

struct sim_gpu {
	int index;
	uint32_t gpu_id;		/* KFD's id for this GPU */
	char bdf[13];			/* "0000:03:00.0" */
	char sysdir[256];		/* its device directory, relative to STATE/sys */
	int card_minor, render_minor;
	int numa_node;

	int vram_fd;			/* memfd: all of VRAM, sparse */
	uint8_t *vram;			/* the daemon's mapping of it */
	pthread_mutex_t vram_lock;
	struct vram_extent *vram_free;
	atomic_uint_fast64_t vram_used;
	int mmio_fd;			/* BAR5 registers (memfd) */
	uint8_t *mmio;

	/* health and faults */
	atomic_int fallen_off_bus;
	atomic_uint_fast64_t resets;
	atomic_uint_fast64_t ras_ce, ras_ue;
	struct sim_aer aer[AER_HOPS];	/* root port to GPU */
	atomic_int hang_next[2];	/* injected with no queue live: how the next compute/SDMA queue hangs */
	atomic_int mes_hang;		/* injected: 0, or 1 + queue removals MES still answers */
	/* injected: VRAM bytes whose bit 0 is stuck at 1 (vram-stuck), as
	 * ranges of COUNT bytes STRIDE apart; the first nstuck are live */
	struct { uint64_t addr, count, stride; } stuck[VRAM_STUCK_RANGES];
	atomic_int nstuck;
	int link_width, link_speed_gts;	/* current link; max is x16 16 GT/s */
	atomic_int busy_permille;	/* share of time the engines were busy */
	atomic_int temp_edge_mc;	/* sensors, from the thermal plant (millidegrees C) */
	atomic_int temp_junction_mc;
	atomic_int temp_mem_mc;
	atomic_int power_mw;		/* board power, milliwatts */
	atomic_uint throttler_status;	/* the SMU's throttlers now active (THROTTLER_*_BIT of
					   smu13_driver_if_v13_0_0.h), as gpu_metrics reports them */
	atomic_int fan_rpm;		/* its fans */
};

struct sim_box {
	char state[PATH_MAX];
	int ngpus;
	struct sim_gpu gpu[SIM_MAX_GPUS];
	atomic_int stopping;
	pthread_mutex_t lock;		/* processes and their state */
	struct kfd_process *procs;
	uint64_t start_ns;
	int plant_speed;		/* the thermal plant's time runs this many times faster */
	struct sim_drive *drive;	/* drives.c: the NVMe drives */
	int ndrives;
};

extern struct sim_box *g_box;

/* sysfs.c: the box's sysfs tree under STATE/sys, and its device files. */
int sysfs_build(struct sim_box *b);
/* mkdir -p */
int sysfs_mkdirs(const char *path);
/* Rewrite one attribute file atomically: STATE/sys/REL/NAME. */
int sysfs_write(const struct sim_box *b, const char *rel, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void sysfs_update_gpu(struct sim_box *b, struct sim_gpu *g);
/* A relative symlink STATE/sys/FROM_DIR/NAME -> STATE/sys/TO. */
int sysfs_link(const struct sim_box *b, const char *from_dir, const char *name, const char *to);
/* ip_discovery.c: a GPU's IP discovery table under its device directory. */
int ip_discovery_build(struct sim_box *b, const struct sim_gpu *g);

/* klog.c: the kernel log, as `tb sim status` shows it. */
void klog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copy the last lines, newest last, as a JSON array of strings. */
size_t klog_json(char *out, size_t len);
size_t klog_text(char *out, size_t len);

/* gpu.c */
struct sim_gpu *box_gpu_by_id(struct sim_box *b, uint32_t gpu_id);
int gpu_init(struct sim_box *b, struct sim_gpu *g, int index);
int gpu_vram_alloc(struct sim_gpu *g, uint64_t size, uint64_t align, uint64_t *offset);
void gpu_vram_free(struct sim_gpu *g, uint64_t offset, uint64_t size);

uint64_t box_now_ns(void);

/* fault.c: stuck VRAM cells read stuck again, whatever was written to them
 * (the engines call it before each packet) */
void box_vram_stuck_reassert(struct sim_box *b);

#endif
