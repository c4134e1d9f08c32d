/* libtbdrv: the appliance's userspace GPU driver.
 *
 * Errors are values: functions return 0 or a negative errno, and those that
 * can fail for reasons a person should read take a message buffer. */
#ifndef TBDRV_H
#define TBDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Code objects ---------------------------------------------------------
 * gfx1100 code objects (ELF, AMDHSA code object v4-v6) as clang-19 and
 * ld.lld-19 produce them: validated, with their kernels' descriptors and
 * argument layouts from the AMDGPU metadata note. */

enum tb_arg_kind {
	TB_ARG_BY_VALUE,
	TB_ARG_GLOBAL_BUFFER,
	TB_ARG_DYNAMIC_SHARED_POINTER,
	TB_ARG_HIDDEN,			/* one of the hidden_* arguments the runtime fills */
	TB_ARG_OTHER,			/* image, sampler, pipe...: not supported by us */
};

/* The hidden arguments of code object v5 that a dispatch fills. */
enum tb_hidden_arg {
	TB_HIDDEN_NONE,
	TB_HIDDEN_BLOCK_COUNT_X, TB_HIDDEN_BLOCK_COUNT_Y, TB_HIDDEN_BLOCK_COUNT_Z,
	TB_HIDDEN_GROUP_SIZE_X, TB_HIDDEN_GROUP_SIZE_Y, TB_HIDDEN_GROUP_SIZE_Z,
	TB_HIDDEN_REMAINDER_X, TB_HIDDEN_REMAINDER_Y, TB_HIDDEN_REMAINDER_Z,
	TB_HIDDEN_GLOBAL_OFFSET_X, TB_HIDDEN_GLOBAL_OFFSET_Y, TB_HIDDEN_GLOBAL_OFFSET_Z,
	TB_HIDDEN_GRID_DIMS,
	TB_HIDDEN_OTHER,		/* printf buffer, heap, queue pointers...: left zero */
};

struct tb_kernel_arg {
	char name[64];
	char type_name[64];
	uint32_t offset;		/* in the kernarg segment */
	uint32_t size;
	enum tb_arg_kind kind;
	enum tb_hidden_arg hidden;
	bool is_const;
};

/* Kernel descriptor bits a loader needs (AMDGPUUsage, "Kernel Descriptor"). */
#define TB_KD_USER_SGPR_PRIVATE_SEGMENT_BUFFER (1u << 0)
#define TB_KD_USER_SGPR_DISPATCH_PTR (1u << 1)
#define TB_KD_USER_SGPR_QUEUE_PTR (1u << 2)
#define TB_KD_USER_SGPR_KERNARG_SEGMENT_PTR (1u << 3)
#define TB_KD_USER_SGPR_DISPATCH_ID (1u << 4)
#define TB_KD_USER_SGPR_FLAT_SCRATCH_INIT (1u << 5)
#define TB_KD_USER_SGPR_PRIVATE_SEGMENT_SIZE (1u << 6)
#define TB_KD_WAVEFRONT_SIZE32 (1u << 10)

/* Scratch per work-item: what COMPUTE_TMPRING_SIZE.WAVESIZE (15 bits of
 * 256 bytes per wave of 32) can hold. */
#define TB_MAX_PRIVATE_SEGMENT (0x7fffu * 256u / 32u)

struct tb_kernel {
	char name[128];
	uint64_t kd_offset;		/* kernel descriptor, in the loaded image */
	uint64_t entry_offset;		/* first instruction, in the loaded image */
	uint32_t group_segment_size;	/* static LDS bytes */
	uint32_t private_segment_size;	/* scratch bytes per work-item, at most TB_MAX_PRIVATE_SEGMENT */
	uint32_t kernarg_size;
	uint32_t kernarg_align;
	uint32_t rsrc1, rsrc2, rsrc3;
	uint16_t code_properties;	/* TB_KD_* */
	uint32_t wavefront_size;
	uint32_t max_flat_workgroup_size;	/* 1..1024 (1024 when the metadata says none) */
	uint32_t sgpr_count, vgpr_count;
	uint32_t nargs;
	struct tb_kernel_arg *args;
	uint32_t nexplicit;		/* the first nexplicit args are the kernel's own */
};

struct tb_codeobj {
	uint8_t *image;			/* PT_LOAD segments at their addresses, relative to 0 */
	uint64_t image_size;
	uint64_t text_offset, text_size;	/* executable code, for the emulator's decoder */
	char target[64];		/* "amdgcn-amd-amdhsa--gfx1100" */
	uint32_t abi_version;		/* code object version: 4, 5 or 6 */
	uint32_t nkernels;
	struct tb_kernel *kernels;
	/* relocations to apply at load: (offset, addend) of R_AMDGPU_RELATIVE64 */
	uint32_t nrelocs;
	uint64_t (*relocs)[2];
};

/* Parse and validate a code object held in memory (size bytes).  On success
 * *out holds a code object to free with tb_codeobj_free().  Anything that is
 * not a well-formed gfx1100 AMDHSA code object is refused with -ENOEXEC (or
 * -ENOMEM) and a message naming what is wrong. */
int tb_codeobj_parse(const void *data, size_t size, struct tb_codeobj **out, char *err, size_t errlen);
/* Read and parse a code object file. */
int tb_codeobj_load_file(const char *path, struct tb_codeobj **out, char *err, size_t errlen);
void tb_codeobj_free(struct tb_codeobj *co);
const struct tb_kernel *tb_codeobj_kernel(const struct tb_codeobj *co, const char *name);
/* Copy the image to dst (image_size bytes) as it must be when loaded at GPU
 * virtual address base: relocations applied. */
void tb_codeobj_place(const struct tb_codeobj *co, uint8_t *dst, uint64_t base);
/* The user SGPRs a dispatch of k must set (COMPUTE_USER_DATA_*), given the
 * addresses it needs; returns how many (at most 16). */
unsigned tb_kernel_user_sgprs(const struct tb_kernel *k, uint64_t private_segment_buffer[2], uint64_t dispatch_ptr,
			      uint64_t queue_ptr, uint64_t kernarg_ptr, uint64_t dispatch_id, uint32_t user_data[16]);

/* ---- GPUs -------------------------------------------------------------------
 * GPUs are found on the PCI bus (libpci: AMD, display or processing
 * class), matched to their KFD topology nodes (/sys/class/kfd/kfd/topology)
 * and render nodes, and opened through /dev/kfd and the render node
 * (libdrm_amdgpu).  One KFD
 * file is shared by every GPU a process opens, as KFD requires. */

struct tb_gpu_info {
	int index;			/* among the GPUs, in topology order */
	uint32_t node;			/* KFD topology node */
	uint32_t gpu_id;		/* KFD's id */
	char pci[16];			/* "0000:03:00.0" */
	char target[16];		/* "gfx1100" */
	char name[96];			/* marketing name, from libdrm_amdgpu */
	uint32_t cu_count;
	uint64_t vram_bytes;
	int render_minor;		/* /dev/dri/renderD<minor> */
	int numa_node;			/* -1: none */
	uint16_t device_id;		/* PCI device (0x744c: Navi 31) */
	uint8_t revision;
	uint64_t bar0_bytes;		/* the VRAM aperture */
	bool large_bar;			/* BAR0 covers all of VRAM (resizable BAR on) */
	uint32_t link_speed_mts, link_width;		/* PCIe link now: 16000 = 16 GT/s */
	uint32_t max_link_speed_mts, max_link_width;	/* and what it can do */
	/* what a compute queue's context save area (CWSR) takes, as KFD's
	 * kfd_queue_ctx_save_restore_size() computes it from the topology */
	uint32_t cwsr_ctx_bytes, cwsr_ctl_stack_bytes, cwsr_debug_bytes, num_xcc;
};

/* Fill *out with up to max GPUs; returns how many there are (may be more
 * than max), or a negative errno with a message (no KFD, bad topology). */
int tb_gpu_list(struct tb_gpu_info *out, int max, char *err, size_t errlen);

/* The other processes holding the GPU: KFD publishes a directory per
 * process that opened /dev/kfd (/sys/class/kfd/kfd/proc/<pid>/) with
 * vram_<gpu_id> for each GPU it has a VM on.  Up to max pids into pids;
 * returns how many there are (this process, and processes that have
 * exited but whose release KFD has not finished, not counted). */
int tb_gpu_holders(const struct tb_gpu_info *gpu, int *pids, int max);

struct tb_gpu;
/* Open GPU `index` of tb_gpu_list.  Returns 0 or a negative errno. */
int tb_gpu_open(int index, struct tb_gpu **out, char *err, size_t errlen);
void tb_gpu_close(struct tb_gpu *g);
const struct tb_gpu_info *tb_gpu_info(const struct tb_gpu *g);
/* VRAM this process could still allocate on the GPU (KFD's
 * AMDKFD_IOC_AVAILABLE_MEMORY: what every process's allocations leave). */
int tb_gpu_available_vram(struct tb_gpu *g, uint64_t *bytes);
/* Why the GPU stopped working (a fault, a hang, a reset), or NULL.  A
 * failure is final: the GPU's calls fail with -EIO until it is closed and
 * opened again.  The text is the calling thread's copy, valid until its
 * next call. */
const char *tb_gpu_failure(const struct tb_gpu *g);
/* A queue with work outstanding whose read pointer and completion value
 * do not move for this long is taken for hung, and the GPU fails (default
 * 10 s; 0 restores it).  Waiting for a signal longer than that counts. */
void tb_gpu_set_hang_timeout(struct tb_gpu *g, uint32_t ms);

/* ---- Memory ----------------------------------------------------------------- */

enum tb_mem { TB_MEM_VRAM, TB_MEM_HOST, TB_MEM_USERPTR };

struct tb_bo {
	struct tb_gpu *gpu;
	enum tb_mem kind;
	uint64_t va;			/* GPU virtual address (= the CPU address of its mapping) */
	uint64_t size;
	void *cpu;			/* CPU view (VRAM through the large BAR) */
	uint64_t handle;		/* KFD's handle */
	uint64_t peers;			/* other GPUs (bit = index) it is mapped on */
};

int tb_bo_alloc(struct tb_gpu *g, uint64_t size, enum tb_mem kind, struct tb_bo **out);
/* The process's own memory [ptr, ptr + size) (page aligned), pinned and
 * mapped on the GPU at the same address (KFD userptr): copies and kernels
 * reach it without a staging copy.  Freeing the bo leaves the memory to
 * its owner. */
int tb_bo_userptr(struct tb_gpu *g, void *ptr, uint64_t size, struct tb_bo **out);
void tb_bo_free(struct tb_bo *bo);
/* Map bo at the same address on another GPU, for peer access (its
 * kernels and copy engines read and write it over PCIe). */
int tb_bo_map(struct tb_bo *bo, struct tb_gpu *peer);

/* ---- Programs: code objects loaded into a GPU's memory ----------------------- */

struct tb_program {
	struct tb_gpu *gpu;
	struct tb_codeobj *co;
	struct tb_bo *code;
};
/* Load co (the program takes it over) into VRAM. */
int tb_program_load(struct tb_gpu *g, struct tb_codeobj *co, struct tb_program **out);
void tb_program_free(struct tb_program *p);

/* ---- Signals ------------------------------------------------------------------
 * A 64-bit timeline value in host memory that queues write, with a KFD
 * event so that a CPU wait sleeps instead of spinning. */

struct tb_signal;
int tb_signal_create(struct tb_gpu *g, uint64_t initial, struct tb_signal **out);
void tb_signal_destroy(struct tb_signal *s);
uint64_t tb_signal_value(const struct tb_signal *s);
void tb_signal_set(struct tb_signal *s, uint64_t value);
/* Let the queues of another GPU of the process wait on the signal
 * (its memory mapped there too): how one GPU waits for another's work. */
int tb_signal_map(struct tb_signal *s, struct tb_gpu *peer);
/* Wait until value >= target: 0; -ETIMEDOUT after timeout_ms, which says
 * nothing of the GPU (it stays usable: wait again); -EIO when the GPU
 * failed, before or while waiting: a fault or reset it reported, or a hang
 * the driver declared from a queue's lack of progress (see
 * tb_gpu_set_hang_timeout; tb_gpu_failure says which). */
int tb_signal_wait(struct tb_signal *s, uint64_t target, uint32_t timeout_ms);
/* GPU timestamps written by tb_queue_timestamp, converted to nanoseconds. */
uint64_t tb_signal_timestamp_ns(const struct tb_signal *s);

/* ---- Queues ------------------------------------------------------------------------
 * User-mode queues: commands are written to a ring in host memory and the
 * doorbell is rung, without a system call.  Commands accumulate until
 * tb_queue_submit. */

enum tb_queue_kind { TB_QUEUE_COMPUTE, TB_QUEUE_COPY };
struct tb_queue;
int tb_queue_create(struct tb_gpu *g, enum tb_queue_kind kind, struct tb_queue **out);
void tb_queue_destroy(struct tb_queue *q);

/* Compute: run kernel k of program p over grid[] work-items in blocks of
 * block[] work-items, with the kernel's explicit arguments (args_size bytes
 * laid out as the kernel's metadata says); the driver fills the hidden
 * arguments and the dispatch packet.  -EINVAL for a grid or block the
 * hardware cannot take (see tb_dispatch_check), -EOPNOTSUPP for a kernel
 * with a dynamic shared-memory argument (its LDS size cannot be given). */
/* What the hardware takes: at least one work-item per dimension, at most
 * 2^32 - 1 in all (HSA's grid size limit); a block of at most the kernel's
 * max_flat_workgroup_size and 1024 work-items. */
#define TB_MAX_GRID_WORK_ITEMS 0xffffffffull
#define TB_MAX_WORKGROUP_SIZE 1024u
int tb_dispatch_check(const struct tb_kernel *k, const uint32_t grid[3], const uint32_t block[3]);
int tb_queue_dispatch(struct tb_queue *q, const struct tb_program *p, const struct tb_kernel *k, const void *args,
		      size_t args_size, const uint32_t grid[3], const uint32_t block[3]);
/* Both kinds: */
int tb_queue_signal(struct tb_queue *q, struct tb_signal *s, uint64_t value);
int tb_queue_wait(struct tb_queue *q, struct tb_signal *s, uint64_t value);
int tb_queue_timestamp(struct tb_queue *q, struct tb_signal *s);
/* Later work sees the memory writes of earlier work (caches written back
 * and invalidated). */
int tb_queue_barrier(struct tb_queue *q);
/* Copy queues: */
int tb_queue_copy(struct tb_queue *q, uint64_t dst_va, uint64_t src_va, uint64_t bytes);
int tb_queue_fill(struct tb_queue *q, uint64_t dst_va, uint32_t value, uint64_t bytes);
/* Variants that say where a recording can be changed before a replay:
 * the dispatch's kernel arguments (*kernarg: their CPU address), or the
 * dword index of a signal's or wait's value in the recording (*patch). */
int tb_queue_dispatch_ex(struct tb_queue *q, const struct tb_program *p, const struct tb_kernel *k, const void *args,
			 size_t args_size, const uint32_t grid[3], const uint32_t block[3], void **kernarg);
int tb_queue_signal_ex(struct tb_queue *q, struct tb_signal *s, uint64_t value, uint32_t *patch);
int tb_queue_wait_ex(struct tb_queue *q, struct tb_signal *s, uint64_t value, uint32_t *patch);

/* Recorded command buffers (compute queues): what is queued between
 * record_begin and record_end becomes an indirect buffer in GPU-visible
 * memory, with its own kernel arguments; a replay costs one packet.  A
 * recording names the scratch area of the queue it was recorded on: replay
 * it on that GPU while that queue exists. */
struct tb_cmdbuf;
int tb_queue_record_begin(struct tb_queue *q);
int tb_queue_record_end(struct tb_queue *q, struct tb_cmdbuf **out);
int tb_queue_replay(struct tb_queue *q, const struct tb_cmdbuf *cb);
/* Change a recorded value (see the _ex variants); the caller makes sure no
 * replay of cb is running. */
int tb_cmdbuf_patch32(struct tb_cmdbuf *cb, uint32_t index, uint32_t value);
int tb_cmdbuf_patch64(struct tb_cmdbuf *cb, uint32_t index, uint64_t value);
void tb_cmdbuf_free(struct tb_cmdbuf *cb);

/* Raw packets in the queue's own format (PM4 for compute, SDMA for copy),
 * for pre-built command streams and tests. */
int tb_queue_raw(struct tb_queue *q, const uint32_t *dwords, uint32_t n);
int tb_queue_submit(struct tb_queue *q);

#endif
