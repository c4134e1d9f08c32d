/* The packets and registers libtbdrv writes, by the names the public
 * documents give them: Mesa's src/amd/common/sid.h (S_xxx field setters,
 * R_xxx registers by byte address, V_xxx values), the kernel's nvd.h and
 * sdma_v6_0_0_pkt_open.h as tinygrad uses them.  gfx11 (RDNA3) and SDMA v6.
 * Private to driver/. */
#ifndef TBDRV_PM4_H
#define TBDRV_PM4_H

/* ---- PM4 type-3 packets ---------------------------------------------------- */

/* header: type 3, the body's dword count minus one, the opcode */
#define PKT3(op, ndw) (3u << 30 | ((uint32_t)((ndw) - 1) & 0x3fffu) << 16 | (uint32_t)(op) << 8)
enum {
	PKT3_NOP = 0x10,
	PKT3_DISPATCH_DIRECT = 0x15,
	PKT3_WAIT_REG_MEM = 0x3c,
	PKT3_INDIRECT_BUFFER = 0x3f,
	PKT3_EVENT_WRITE = 0x46,
	PKT3_RELEASE_MEM = 0x49,
	PKT3_ACQUIRE_MEM = 0x58,
	PKT3_SET_SH_REG = 0x76,
	PKT3_WAIT_REG_MEM64 = 0x93,
};

/* EVENT_WRITE and RELEASE_MEM's event dword */
#define EVENT_TYPE(x) ((uint32_t)(x) & 0x3f)
#define EVENT_INDEX(x) (((uint32_t)(x) & 0xf) << 8)
enum {
	V_028A90_CS_PARTIAL_FLUSH = 0x07,
	V_028A90_CACHE_FLUSH_AND_INV_TS_EVENT = 0x14,
	EVENT_INDEX_PARTIAL_FLUSH = 4,	/* CS_PARTIAL_FLUSH's index */
	EVENT_INDEX_END_OF_PIPE = 5,	/* event_index__mec_release_mem__end_of_pipe */
};

/* RELEASE_MEM's second dword: what is written, and whether an interrupt follows */
#define EOP_INT_SEL(x) (((uint32_t)(x) & 0x7) << 24)
#define EOP_DATA_SEL(x) (((uint32_t)(x) & 0x7) << 29)
enum {
	EOP_DATA_SEL_VALUE_32BIT = 1,
	EOP_DATA_SEL_VALUE_64BIT = 2,
	EOP_DATA_SEL_TIMESTAMP = 3,
	EOP_INT_SEL_NONE = 0,
	EOP_INT_SEL_SEND_INT_AFTER_WR_CONFIRM = 2,
};

/* WAIT_REG_MEM(64)'s first dword; the last is the poll interval */
#define WAIT_REG_MEM_FUNCTION(x) ((uint32_t)(x) & 0x7)
#define WAIT_REG_MEM_MEM_SPACE(x) (((uint32_t)(x) & 0x3) << 4)
enum { WAIT_REG_MEM_GREATER_OR_EQUAL = 5, WAIT_REG_MEM_POLL_INTERVAL = 4 };

/* ACQUIRE_MEM's GCR_CNTL (register 0x586 in sid.h): which caches it
 * writes back (WB) and invalidates (INV) */
#define S_586_GLI_INV(x) ((uint32_t)(x) & 0x3)
#define S_586_GLM_WB(x) (((uint32_t)(x) & 0x1) << 4)
#define S_586_GLM_INV(x) (((uint32_t)(x) & 0x1) << 5)
#define S_586_GLK_WB(x) (((uint32_t)(x) & 0x1) << 6)
#define S_586_GLK_INV(x) (((uint32_t)(x) & 0x1) << 7)
#define S_586_GLV_INV(x) (((uint32_t)(x) & 0x1) << 8)
#define S_586_GL1_INV(x) (((uint32_t)(x) & 0x1) << 9)
#define S_586_GL2_INV(x) (((uint32_t)(x) & 0x1) << 14)
#define S_586_GL2_WB(x) (((uint32_t)(x) & 0x1) << 15)
enum { V_586_GLI_ALL = 1 };
/* every cache a kernel's memory passes through: instruction, scalar
 * (K), vector (V), GL1, GLM and GL2 */
#define GCR_ALL_CACHES                                                                                 \
	(S_586_GLI_INV(V_586_GLI_ALL) | S_586_GLM_WB(1) | S_586_GLM_INV(1) | S_586_GLK_WB(1) | S_586_GLK_INV(1) | \
	 S_586_GLV_INV(1) | S_586_GL1_INV(1) | S_586_GL2_INV(1) | S_586_GL2_WB(1))
/* ACQUIRE_MEM over the whole address space: COHER_SIZE(_HI) all ones */
enum { COHER_SIZE_ALL = 0xffffffffu };

/* INDIRECT_BUFFER's third dword: IB_SIZE [19:0], VALID */
#define INDIRECT_BUFFER_VALID (1u << 23)

/* ---- compute registers (byte addresses), written with SET_SH_REG --------- */

#define SI_SH_REG_OFFSET 0x0000b000u
#define SH_REG(r) (((r) - SI_SH_REG_OFFSET) >> 2)
enum {
	R_00B810_COMPUTE_START_X = 0xb810,
	R_00B830_COMPUTE_PGM_LO = 0xb830,
	R_00B840_COMPUTE_DISPATCH_SCRATCH_BASE_LO = 0xb840,
	R_00B848_COMPUTE_PGM_RSRC1 = 0xb848,
	R_00B854_COMPUTE_RESOURCE_LIMITS = 0xb854,
	R_00B858_COMPUTE_STATIC_THREAD_MGMT_SE0 = 0xb858,
	R_00B860_COMPUTE_TMPRING_SIZE = 0xb860,
	R_00B86C_COMPUTE_RESTART_X = 0xb86c,
	R_00B8A0_COMPUTE_PGM_RSRC3 = 0xb8a0,
	R_00B900_COMPUTE_USER_DATA_0 = 0xb900,
};
/* COMPUTE_STATIC_THREAD_MGMT_SE*: every CU of the shader engine */
enum { CU_MASK_ALL = 0xffffffffu };

/* COMPUTE_DISPATCH_INITIATOR (DISPATCH_DIRECT's last dword) */
#define S_00B800_COMPUTE_SHADER_EN(x) ((uint32_t)(x) & 0x1)
#define S_00B800_PARTIAL_TG_EN(x) (((uint32_t)(x) & 0x1) << 1)
#define S_00B800_FORCE_START_AT_000(x) (((uint32_t)(x) & 0x1) << 2)
#define S_00B800_USE_THREAD_DIMENSIONS(x) (((uint32_t)(x) & 0x1) << 5)
#define S_00B800_CS_W32_EN(x) (((uint32_t)(x) & 0x1) << 15)

/* COMPUTE_PGM_RSRC2.LDS_SIZE, in 512-byte units on gfx11 */
#define S_00B84C_LDS_SIZE(x) (((uint32_t)(x) & 0x1ff) << 15)
enum { LDS_GRANULARITY = 512 };

/* COMPUTE_TMPRING_SIZE: waves with scratch per shader engine, and each
 * wave's scratch in 256-byte units */
#define S_00B860_WAVES(x) ((uint32_t)(x) & 0xfff)
#define S_00B860_WAVESIZE_GFX11(x) (((uint32_t)(x) & 0x7fff) << 12)
enum { TMPRING_WAVES_MAX = 0xfff, TMPRING_WAVESIZE_MAX = 0x7fff, TMPRING_WAVESIZE_UNIT = 256 };

/* ---- the private segment buffer: a buffer resource (V#) over scratch ------ */

/* word 1 */
#define S_008F04_SWIZZLE_ENABLE_GFX11(x) (((uint32_t)(x) & 0x3) << 30)
/* word 3 */
#define S_008F0C_FORMAT_GFX11(x) (((uint32_t)(x) & 0x3f) << 12)
#define S_008F0C_INDEX_STRIDE(x) (((uint32_t)(x) & 0x3) << 21)
#define S_008F0C_ADD_TID_ENABLE(x) (((uint32_t)(x) & 0x1) << 23)
#define S_008F0C_OOB_SELECT(x) (((uint32_t)(x) & 0x3) << 28)
enum {
	V_008F0C_GFX11_FORMAT_32_FLOAT = 0x14,
	V_008F0C_INDEX_STRIDE_32 = 2,	/* one element per lane of a wave32 */
	V_008F0C_OOB_SELECT_DISABLED = 2,
	SWIZZLE_ENABLE_8_BYTES = 2,
};

/* ---- SDMA v6 ------------------------------------------------------------- */

/* header: OP [7:0], SUB_OP [15:8], and per-packet bits above */
enum {
	SDMA_OP_COPY = 1,		/* sub-op 0: linear */
	SDMA_OP_FENCE = 5,
	SDMA_OP_TRAP = 6,
	SDMA_OP_POLL_REGMEM = 8,
	SDMA_OP_CONST_FILL = 11,
	SDMA_OP_TIMESTAMP = 13,
	SDMA_OP_GCR_REQ = 17,
};
#define SDMA_SUB_OP(x) (((uint32_t)(x) & 0xff) << 8)
enum { SDMA_SUBOP_TIMESTAMP_GET_GLOBAL = 2 };
/* POLL_REGMEM: poll memory (not a register), compare function, and the
 * last dword's retry count and interval */
#define SDMA_POLL_REGMEM_MEM_POLL (1u << 31)
#define SDMA_POLL_REGMEM_FUNC(x) (((uint32_t)(x) & 0x7) << 28)
#define SDMA_POLL_REGMEM_RETRY_COUNT(x) (((uint32_t)(x) & 0xfff) << 16)
#define SDMA_POLL_REGMEM_INTERVAL(x) ((uint32_t)(x) & 0xffff)
/* CONST_FILL: the fill's element size, 2 = 4 bytes */
#define SDMA_CONST_FILL_FILLSIZE(x) (((uint32_t)(x) & 0x3) << 30)
/* TRAP: the interrupt's context id, 28 bits */
#define SDMA_TRAP_INT_CONTEXT(x) ((uint32_t)(x) & 0x0fffffff)

#endif
