/* sim/isa: the gfx1100 (RDNA3) instruction-set emulator.
 *
 * It executes the machine code clang-19 emits for gfx1100, wave32, the way
 * the hardware's shader engines do: a dispatch is a grid of workgroups, each
 * workgroup a set of 32-lane waves sharing LDS and meeting at s_barrier.  It
 * knows nothing of code objects or queues; like the hardware it starts from
 * the state a command processor sets (program address, PGM_RSRC1..3, user
 * SGPRs, workgroup size and count, scratch) and reaches memory through GPU
 * virtual addresses that its user translates.
 *
 * Errors are values: a bad address stops the dispatch with a memory fault
 * naming the address and the PC, an instruction the emulator does not know
 * stops it with an illegal-instruction fault naming the word and the PC.
 */
#ifndef TB_SIM_ISA_H
#define TB_SIM_ISA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- GPU virtual memory, as the emulator sees it ---------------------- */

/* One contiguous mapping of GPU virtual addresses onto host memory. */
struct isa_mapping {
	uint64_t va;		/* first GPU virtual address */
	uint64_t size;		/* bytes */
	uint8_t *host;		/* host address of va */
	bool writable;
};

/* The translation the emulator's user provides.  lookup() finds the mapping
 * that contains va and returns 0, or returns -EFAULT when no mapping does.
 * It is called from several threads at once and must not change a mapping
 * that a running dispatch may use. */
struct isa_memory {
	int (*lookup)(void *ctx, uint64_t va, struct isa_mapping *out);
	void *ctx;
};

/* ---- Decoded programs ---------------------------------------------------- */

struct isa_program;

/* Decode the code at [code_va, code_va + size) once, through mem; size bounds
 * the region branches may reach.  Returns NULL with errno ENOMEM/EFAULT. */
struct isa_program *isa_program_create(const struct isa_memory *mem, uint64_t code_va, uint64_t size);
void isa_program_destroy(struct isa_program *p);

/* Decode one instruction from words (n of them available), for disassembly
 * checks.  Writes the mnemonic as llvm-objdump names it ("v_add_f32_e32",
 * "v_dual_mul_f32 :: v_dual_add_f32" for VOPD), sets *executable to whether
 * the emulator can execute it, and returns the instruction's length in
 * dwords, or 0 when the words are not a gfx1100 instruction we know. */
int isa_disasm_name(const uint32_t *words, int n, char *name, size_t len, bool *executable);

/* ---- Dispatches ---------------------------------------------------------- */

/* Everything a dispatch needs, in the hardware's terms: the registers the
 * command processor programs (COMPUTE_PGM_*, COMPUTE_PGM_RSRC1..3,
 * COMPUTE_USER_DATA_*, COMPUTE_NUM_THREAD_*, DISPATCH_DIRECT) plus the
 * process's apertures and scratch. */
struct isa_dispatch {
	const struct isa_program *program;
	uint64_t pgm_va;		/* the kernel's first instruction */
	uint32_t rsrc1, rsrc2, rsrc3;	/* COMPUTE_PGM_RSRC1..3 (kernel descriptor) */
	uint32_t user_data[16];		/* COMPUTE_USER_DATA_0..15 */
	uint32_t wg_size[3];		/* work-items per workgroup, each >= 1 */
	uint32_t wg_count[3];		/* workgroups in the grid, each >= 1 */
	uint32_t partial[3];		/* work-items in the last workgroup of a
					   dimension; 0 when it is full */
	uint32_t lds_bytes;		/* LDS per workgroup */
	uint64_t scratch_va;		/* private memory: lane_bytes per lane */
	uint64_t scratch_bytes;		/* size of the scratch backing */
	uint32_t scratch_lane_bytes;	/* private bytes per work-item */
	uint64_t shared_aperture;	/* flat addresses of LDS: base, 4 GiB */
	uint64_t private_aperture;	/* flat addresses of scratch: base, 4 GiB */
	uint64_t realtime_hz;		/* s_sendmsg_rtn REALTIME clock, Hz */
	uint64_t max_wave_instructions;	/* a wave longer than this is hung; 0: no limit */
	const int *cancel;		/* when non-NULL and set (read atomically), the
					   waves stop at their next scheduling point */
};

enum isa_status {
	ISA_OK = 0,
	ISA_MEMORY_FAULT,		/* a bad address: fault_address */
	ISA_ILLEGAL_INSTRUCTION,	/* unknown or unsupported: fault_word */
	ISA_HANG,			/* a wave passed max_wave_instructions */
	ISA_ABORTED,			/* stopped from outside (isa_dispatch.cancel) */
	ISA_TRAP,			/* s_trap: the kernel asked to stop */
	ISA_BAD_DISPATCH,		/* the dispatch itself is invalid */
};

/* What a dispatch did, and how it ended. */
struct isa_result {
	enum isa_status status;
	uint64_t fault_address;		/* memory faults */
	uint64_t fault_pc;		/* GPU virtual address of the instruction */
	uint32_t fault_word[3];		/* the instruction's words */
	char message[256];		/* a sentence for people */
	uint64_t wave_instructions;	/* executed, all waves */
	uint64_t waves;
	uint64_t workgroups;
	uint64_t elapsed_ns;		/* wall-clock time of the dispatch itself */
};

/* Run the whole grid on `threads` host threads (0: one per core) and wait.
 * Returns 0 when every wave ended with s_endpgm; otherwise -EIO (a fault,
 * a hang or a cancel, described in *res), -EINVAL (a bad dispatch, also
 * described) or -ENOMEM. */
int isa_dispatch_run(const struct isa_dispatch *d, const struct isa_memory *mem, unsigned threads,
		     struct isa_result *res);

/* The number of host threads a dispatch uses by default. */
unsigned isa_default_threads(void);

#endif
