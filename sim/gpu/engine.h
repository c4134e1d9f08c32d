/* sim/gpu: a simulated 7900 XTX's command engines.
 *
 *  - the compute command processor (CP/MEC): PM4 packets from a user-mode
 *    queue's ring buffer, dispatches on the gfx1100 emulator (sim/isa);
 *  - the SDMA engines: SDMA packets from their queues' rings.
 *
 * An engine knows nothing of processes or KFD: it reads and writes GPU
 * virtual memory through the queue's VM (an isa_memory), reports interrupts
 * and faults through callbacks, and keeps its queue's read pointer in
 * memory as the hardware does.  The daemon (sim/box) runs each queue on a
 * thread of its own and calls *_run when the doorbell moves.
 *
 * Private to sim/. */
#ifndef TB_SIM_GPU_ENGINE_H
#define TB_SIM_GPU_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/isa/isa.h"

/* What an engine needs from the box. */
struct engine_env {
	struct isa_memory mem;		/* the queue's GPU virtual memory */
	/* an interrupt raised by the queue (RELEASE_MEM with INT_SEL, SDMA
	 * TRAP): src_id is the hardware source (see ENGINE_IRQ_*), ctxid the
	 * packet's context id */
	void (*interrupt)(void *ctx, int src_id, uint32_t ctxid);
	/* a GPU page fault (address, write?) or another fatal queue error; the
	 * queue stops and stays stopped */
	void (*fault)(void *ctx, enum isa_status kind, uint64_t addr, bool write, const char *message);
	void *ctx;
	uint64_t (*clock)(void);	/* the GPU's 100 MHz timestamp counter */
	const int *cancel;		/* set from outside: stop work now (the
					   queue's removal, GPU reset); work is lost */
	const int *preempt;		/* set from outside: stop at the next packet
					   (a queue eviction); nothing is lost, the
					   next run goes on where this one stopped */
	/* called before each packet (NULL: nothing): the box re-asserts
	 * VRAM cells that are stuck, so whatever a packet wrote into them
	 * reads stuck again by the next */
	void (*between_packets)(void *ctx);
	unsigned isa_threads;		/* host threads per dispatch (0: all cores) */
	uint64_t shared_aperture, private_aperture;	/* the process's apertures */
	uint64_t max_wave_instructions;	/* a hung wave (0: no limit) */
};

enum { ENGINE_IRQ_CP_END_OF_PIPE = 181, ENGINE_IRQ_SDMA_TRAP = 224 };

/* What a run ended with. */
enum engine_state {
	ENGINE_IDLE,		/* everything up to the write pointer is done */
	ENGINE_WAITING,		/* a wait packet's condition is not met yet: run again later */
	ENGINE_FAULTED,		/* a fault (reported through env->fault); the queue is dead */
	ENGINE_CANCELLED,	/* env->cancel was set */
	ENGINE_PREEMPTED,	/* env->preempt was set: run again once it is clear */
};

/* ---- compute (PM4) queues ---------------------------------------------------- */

struct pm4_queue;

/* ring_va: the ring's GPU address; ring_bytes: its size (a power of two);
 * rptr_va / wptr_va: where the 64-bit read and write pointers live (in
 * dwords, monotonically increasing).  Returns NULL on allocation failure. */
struct pm4_queue *pm4_queue_create(uint64_t ring_va, uint32_t ring_bytes, uint64_t rptr_va, uint64_t wptr_va);
void pm4_queue_destroy(struct pm4_queue *q);
/* Execute packets from the current read pointer up to wptr (the value the
 * doorbell was rung with); keep rptr in memory up to date. */
enum engine_state pm4_run(struct pm4_queue *q, const struct engine_env *env, uint64_t wptr);
/* How many dispatches and wave-instructions the queue has run (activity
 * drives the GPU's power in the thermal model). */
void pm4_stats(const struct pm4_queue *q, uint64_t *dispatches, uint64_t *wave_instructions, uint64_t *busy_ns);

/* ---- SDMA queues ------------------------------------------------------------------- */

struct sdma_queue;

/* As for PM4, but SDMA's read and write pointers count bytes. */
struct sdma_queue *sdma_queue_create(uint64_t ring_va, uint32_t ring_bytes, uint64_t rptr_va, uint64_t wptr_va);
void sdma_queue_destroy(struct sdma_queue *q);
enum engine_state sdma_run(struct sdma_queue *q, const struct engine_env *env, uint64_t wptr);
void sdma_stats(const struct sdma_queue *q, uint64_t *packets, uint64_t *bytes_copied, uint64_t *busy_ns);

#endif
