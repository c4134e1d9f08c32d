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

struct tb_kernel {
	char name[128];
	uint64_t kd_offset;		/* kernel descriptor, in the loaded image */
	uint64_t entry_offset;		/* first instruction, in the loaded image */
	uint32_t group_segment_size;	/* static LDS bytes */
	uint32_t private_segment_size;	/* scratch bytes per work-item */
	uint32_t kernarg_size;
	uint32_t kernarg_align;
	uint32_t rsrc1, rsrc2, rsrc3;
	uint16_t code_properties;	/* TB_KD_* */
	uint32_t wavefront_size;
	uint32_t max_flat_workgroup_size;
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

#endif
