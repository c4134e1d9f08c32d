/* sim/emu: run one kernel of a code object on the emulator, the way a
 * runtime would on a GPU: the code object placed in (emulated) GPU memory,
 * buffers mapped, the kernarg segment and a dispatch packet written, the
 * dispatch registers set from the kernel descriptor.  Used by `tb emu`, the
 * differential tests and `make run`. */
#ifndef TB_SIM_EMU_H
#define TB_SIM_EMU_H

#include <stddef.h>
#include <stdint.h>

#include "driver/tbdrv.h"
#include "sim/isa/isa.h"

enum emu_arg_kind { EMU_ARG_BUFFER, EMU_ARG_SCALAR };

struct emu_arg {
	enum emu_arg_kind kind;
	void *data;		/* buffers: contents in, results out */
	size_t size;		/* buffers: bytes; scalars: 2, 4 or 8 */
	uint64_t value;		/* scalars: the bits */
	char what[16];		/* scalars: "u32", "f16"... for messages */
};

struct emu_launch {
	const struct tb_codeobj *co;
	const struct tb_kernel *kernel;
	uint32_t grid[3];		/* work-items */
	uint32_t block[3];		/* workgroup size */
	struct emu_arg *args;
	unsigned nargs;
	unsigned threads;		/* host threads; 0: one per core */
	uint64_t max_wave_instructions;	/* 0: no limit */
};

/* Check the arguments against the kernel's metadata (count, kinds and
 * sizes).  Returns 0 or -EINVAL with a message. */
int emu_check_args(const struct emu_launch *l, char *err, size_t errlen);

/* Run the launch; buffers receive their final contents.  Returns 0; -EINVAL
 * for a launch that cannot be made (message in err); -EIO when the
 * dispatch faulted, hung or trapped (details in *res and err); -ENOMEM. */
int emu_run(const struct emu_launch *l, struct isa_result *res, char *err, size_t errlen);

#endif
