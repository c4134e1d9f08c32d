/* libtbhal: the appliance's GPUs for a tensor runtime.
 *
 * Modelled on tinygrad's HCQ interface: devices, buffers (HCQBuffer),
 * programs (HCQProgram), command queues (HWQueue) that launch kernels, copy,
 * signal, wait and take timestamps, signals (HCQSignal: 64-bit timeline
 * values with timestamps), and recorded command buffers that are replayed
 * with changed arguments at the cost of one packet (HCQGraph).
 *
 * Everything below runs on the appliance's GPUs through libtbdrv, and
 * identically on the simulated box.
 *
 * Errors: every call returns TBH_OK (0) or a negative errno; tbh_last_error()
 * describes the calling thread's last failure in a sentence.  Nothing here
 * exits or aborts the process.  Objects are not thread-safe: use one queue
 * per thread (waiting on signals of a device from several threads is fine).
 *
 * Which errors are final: only -EIO.  It means the device failed (a GPU
 * memory fault, a hardware exception or reset the kernel reported, or a
 * hang: a queue with work outstanding whose read pointer and completion
 * value did not move for the hang timeout, see
 * tbh_device_set_hang_timeout); every later call on the device's queues
 * fails with -EIO until it is closed and opened again.  Every other error,
 * -ETIMEDOUT from tbh_signal_wait included, leaves the device as it was. */
#ifndef TBHAL_H
#define TBHAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TBH_OK 0

/* The calling thread's last error message ("" if none). */
const char *tbh_last_error(void);

/* ---- devices ------------------------------------------------------------------ */

typedef struct tbh_device tbh_device;

typedef struct tbh_device_props {
	int index;			/* among the GPUs */
	char pci[16];			/* "0000:03:00.0" */
	char name[96];			/* "Radeon RX 7900 XTX" */
	char arch[16];			/* "gfx1100" */
	uint32_t compute_units;
	uint64_t vram_bytes;
	int numa_node;			/* -1: none */
} tbh_device_props;

/* How many GPUs there are (>= 0), or a negative errno. */
int tbh_device_count(void);
int tbh_device_open(int index, tbh_device **out);
/* By PCI address, "0000:03:00.0" (or without the domain, "03:00.0"). */
int tbh_device_open_pci(const char *pci, tbh_device **out);
/* Every GPU: up to max into out[]; *count receives how many were opened. */
int tbh_device_open_all(tbh_device **out, int max, int *count);
void tbh_device_close(tbh_device *dev);
/* How long a queue may make no progress with work outstanding before the
 * device is declared hung (-EIO, final); 0: the default, 10 s.  A queue
 * waiting on a signal (tbh_queue_wait) that long counts as hung too. */
int tbh_device_set_hang_timeout(tbh_device *dev, uint32_t ms);
int tbh_device_get_props(const tbh_device *dev, tbh_device_props *props);
/* VRAM still free for this process's allocations (after every process's). */
int tbh_device_free_vram(tbh_device *dev, uint64_t *bytes);
/* Other processes holding GPU `index` (it need not be open here): up to max
 * pids into pids; returns how many there are, or a negative errno. */
int tbh_device_holders(int index, int *pids, int max);

/* ---- buffers ------------------------------------------------------------------ */

typedef struct tbh_buffer tbh_buffer;

typedef enum tbh_memory {
	TBH_MEMORY_DEVICE = 0,		/* VRAM; the CPU sees it through the large BAR */
	TBH_MEMORY_HOST = 1,		/* pinned host memory the GPU reads and writes */
} tbh_memory;

int tbh_buffer_alloc(tbh_device *dev, uint64_t size, tbh_memory where, tbh_buffer **out);
void tbh_buffer_free(tbh_buffer *buf);
/* The CPU's view of the buffer (valid until it is freed). */
void *tbh_buffer_cpu(const tbh_buffer *buf);
/* The GPU virtual address, the same on every device it is mapped on. */
uint64_t tbh_buffer_address(const tbh_buffer *buf);
uint64_t tbh_buffer_size(const tbh_buffer *buf);
/* Let another GPU's kernels and copies reach the buffer (peer access). */
int tbh_buffer_map_to(tbh_buffer *buf, tbh_device *peer);

/* ---- programs ------------------------------------------------------------------ */

typedef struct tbh_program tbh_program;
typedef struct tbh_kernel tbh_kernel;

typedef enum tbh_arg_kind { TBH_ARG_VALUE = 0, TBH_ARG_BUFFER = 1 } tbh_arg_kind;

typedef struct tbh_kernel_arg {
	const char *name;
	uint32_t offset, size;		/* in the argument block */
	tbh_arg_kind kind;		/* buffers take tbh_buffer_address() values */
} tbh_kernel_arg;

/* Load a gfx1100 code object (ELF) from memory or a file.  A file that is
 * not one is refused with a message naming what is wrong. */
int tbh_program_load(tbh_device *dev, const void *elf, size_t size, tbh_program **out);
int tbh_program_load_file(tbh_device *dev, const char *path, tbh_program **out);
void tbh_program_free(tbh_program *prog);
/* A kernel by name; it lives as long as its program.  Kernels with a
 * dynamic shared-memory argument (a __local pointer) are refused
 * (-EOPNOTSUPP): exec cannot give that memory a size. */
int tbh_program_kernel(tbh_program *prog, const char *name, const tbh_kernel **out);
/* The kernel's own arguments: how many, and each one's layout; the size of
 * the argument block tbh_queue_exec takes. */
uint32_t tbh_kernel_arg_count(const tbh_kernel *k);
int tbh_kernel_arg_info(const tbh_kernel *k, uint32_t i, tbh_kernel_arg *out);
uint32_t tbh_kernel_args_size(const tbh_kernel *k);

/* ---- signals ------------------------------------------------------------------ */

typedef struct tbh_signal tbh_signal;

int tbh_signal_create(tbh_device *dev, uint64_t initial, tbh_signal **out);
void tbh_signal_destroy(tbh_signal *sig);
uint64_t tbh_signal_value(const tbh_signal *sig);
void tbh_signal_set(tbh_signal *sig, uint64_t value);
/* Wait until the value reaches at least value: TBH_OK; -ETIMEDOUT after
 * timeout_ms, which is no failure (wait again); -EIO when the device failed
 * (a fault, a hang, a reset: the message says which; final). */
int tbh_signal_wait(tbh_signal *sig, uint64_t value, uint32_t timeout_ms);
/* Let the queues of another GPU wait on the signal (tbh_queue_wait,
 * tbh_graph_wait): how one GPU's work waits for another's without the host.
 * Signalling and timestamps stay with the signal's own device. */
int tbh_signal_map_to(tbh_signal *sig, tbh_device *peer);
/* The GPU time of the last tbh_queue_timestamp on it, in nanoseconds. */
uint64_t tbh_signal_timestamp_ns(const tbh_signal *sig);

/* ---- queues ------------------------------------------------------------------ */

typedef struct tbh_queue tbh_queue;

typedef enum tbh_queue_kind { TBH_QUEUE_COMPUTE = 0, TBH_QUEUE_COPY = 1 } tbh_queue_kind;

int tbh_queue_create(tbh_device *dev, tbh_queue_kind kind, tbh_queue **out);
void tbh_queue_destroy(tbh_queue *q);

/* Commands are queued until tbh_queue_submit.  exec runs kernel k over
 * grid[] work-items in blocks of block[] (a grid need not be a multiple of
 * the block) with the argument block args (tbh_kernel_args_size bytes).
 * Refused (-EINVAL): more than 2^32 - 1 work-items in all, a block of more
 * than 1024 work-items or of more than the kernel's max_flat_workgroup_size.
 *
 * Signals and timestamps take signals of the queue's own device only, waits
 * those and signals mapped on it (tbh_signal_map_to); -EINVAL otherwise.  A compute queue's wait compares all 64 bits; a
 * copy queue's compares 32 and refuses larger values (-ERANGE), so a
 * timeline a copy queue waits on must stay below 2^32. */
int tbh_queue_exec(tbh_queue *q, const tbh_kernel *k, const void *args, size_t args_size, const uint32_t grid[3],
		   const uint32_t block[3]);
int tbh_queue_copy(tbh_queue *q, tbh_buffer *dst, uint64_t dst_offset, tbh_buffer *src, uint64_t src_offset,
		   uint64_t size);
int tbh_queue_signal(tbh_queue *q, tbh_signal *sig, uint64_t value);
int tbh_queue_wait(tbh_queue *q, tbh_signal *sig, uint64_t value);
int tbh_queue_timestamp(tbh_queue *q, tbh_signal *sig);
/* Work queued after a barrier sees the memory writes of the work before. */
int tbh_queue_barrier(tbh_queue *q);
int tbh_queue_submit(tbh_queue *q);

/* ---- recorded command buffers (graphs) ------------------------------------------
 * Record compute-queue commands once; replay them many times, on a
 * compute queue of the same device while the recording queue exists (the
 * recording uses its scratch memory).  Between replays, change a kernel's
 * arguments or a signal/wait value through the handles the recording gave
 * out (the previous replay must have finished). */

typedef struct tbh_graph tbh_graph;

int tbh_graph_begin(tbh_queue *q);
/* exec while recording: *args_handle receives the argument block's index */
int tbh_graph_exec(tbh_queue *q, const tbh_kernel *k, const void *args, size_t args_size, const uint32_t grid[3],
		   const uint32_t block[3], uint32_t *args_handle);
int tbh_graph_signal(tbh_queue *q, tbh_signal *sig, uint64_t value, uint32_t *value_handle);
int tbh_graph_wait(tbh_queue *q, tbh_signal *sig, uint64_t value, uint32_t *value_handle);
int tbh_graph_end(tbh_queue *q, tbh_graph **out);
/* Change bytes of a recorded exec's argument block. */
int tbh_graph_set_args(tbh_graph *g, uint32_t args_handle, uint32_t offset, const void *data, size_t size);
/* Change a recorded signal's value or a wait's value (64 bits both). */
int tbh_graph_set_value(tbh_graph *g, uint32_t value_handle, uint64_t value);
/* Queue one replay (then tbh_queue_submit). */
int tbh_queue_replay(tbh_queue *q, const tbh_graph *g);
void tbh_graph_free(tbh_graph *g);

#ifdef __cplusplus
}
#endif

#endif
