// A sample of every gfx1100 encoding family and its operand forms, for the
// decoder test (tests/isa/test_decode.c compares our decoder's mnemonics and
// lengths with llvm-objdump-19's).  Not meant to be run.
.text
// SOP2, with inline constants, literals and 64-bit operands
s_add_u32 s0, s1, s2
s_add_u32 s0, s1, 0x12345678
s_addc_u32 s0, -1, 64
s_lshl_b64 s[0:1], s[2:3], 5
s_and_b64 s[0:1], exec, vcc
s_bfe_u64 s[4:5], s[6:7], 0x80010
s_cselect_b32 s2, s3, 1.0
s_pack_hl_b32_b16 s0, s1, m0
s_mul_hi_i32 s0, s1, s2
// SOPK, including the literal form
s_movk_i32 s3, 0x1234
s_cmpk_lt_u32 s3, 0xffff
s_addk_i32 s3, -5
s_getreg_b32 s2, hwreg(HW_REG_MODE, 0, 4)
s_setreg_imm32_b32 hwreg(HW_REG_MODE, 4, 4), 0xf
s_waitcnt_vscnt null, 0x0
// SOP1
s_mov_b32 s0, src_shared_base
s_mov_b64 s[0:1], src_private_base
s_brev_b32 s0, s1
s_and_saveexec_b32 s0, vcc_lo
s_or_saveexec_b32 s4, -1
s_and_not1_wrexec_b32 s0, s1
s_getpc_b64 s[0:1]
s_setpc_b64 s[0:1]
s_sendmsg_rtn_b64 s[2:3], sendmsg(MSG_RTN_GET_REALTIME)
s_ctz_i32_b32 s0, 0x10000
s_bcnt1_i32_b64 s0, s[2:3]
s_movrels_b32 s0, s4
// SOPC
s_cmp_eq_u32 s0, 0x12345
s_cmp_lg_u64 s[0:1], 0
s_bitcmp1_b32 s0, 3
// SOPP
s_nop 3
s_clause 0x2
s_delay_alu instid0(VALU_DEP_1) | instskip(NEXT) | instid1(SALU_CYCLE_1)
s_waitcnt vmcnt(0) lgkmcnt(0)
s_branch 2
s_cbranch_execz 1
s_cbranch_vccnz -3
s_barrier
s_round_mode 0x3
s_denorm_mode 0xf
s_sendmsg sendmsg(MSG_DEALLOC_VGPRS)
s_trap 2
s_endpgm
// SMEM
s_load_b32 s0, s[0:1], 0x2c
s_load_b512 s[16:31], s[2:3], 0x100
s_load_b64 s[4:5], s[0:1], s6
s_buffer_load_b128 s[4:7], s[8:11], 0x10
s_dcache_inv
// VOP1
v_mov_b32_e32 v0, v1
v_mov_b32_e32 v0, 0x3fc00000
v_mov_b32_dpp v0, v1 quad_perm:[1,0,3,2] row_mask:0xf bank_mask:0xf
v_mov_b32_dpp v0, v1 row_shr:1 row_mask:0xa bank_mask:0x5 bound_ctrl:1
v_mov_b32_dpp v0, v1 dpp8:[7,6,5,4,3,2,1,0]
v_readfirstlane_b32 s0, v1
v_cvt_f32_f16_e32 v0, v1
v_cvt_f16_f32_e32 v0, v1
v_rcp_f32_e32 v0, v1
v_exp_f32_e32 v0, 0.5
v_sqrt_f64_e32 v[0:1], v[2:3]
v_cvt_i32_f64_e32 v0, v[2:3]
v_not_b16_e32 v0, v1
v_swap_b32 v0, v1
// VOP2
v_add_f32_e32 v0, v1, v2
v_add_f32_e32 v0, 0x40490fdb, v2
v_mul_f32_e32 v0, s1, v2
v_add_co_ci_u32_e32 v0, vcc_lo, v1, v2, vcc_lo
v_cndmask_b32_e32 v0, v1, v2, vcc_lo
v_fmac_f32_e32 v0, v1, v2
v_fmamk_f32 v0, v1, 0x3f800000, v2
v_fmaak_f32 v0, v1, v2, 0x3f800000
v_add_f16_e32 v0, v1, v2
v_lshlrev_b32_e32 v0, 2, v1
v_pk_fmac_f16 v0, v1, v2
v_dot2acc_f32_f16 v0, v1, v2
v_add_f32_dpp v0, v1, v2 row_mirror row_mask:0xf bank_mask:0xf
// VOPC
v_cmp_lt_f32_e32 vcc_lo, v0, v1
v_cmp_eq_u32_e32 vcc_lo, 0x1234, v1
v_cmpx_gt_u32_e32 s3, v1
v_cmp_class_f32_e32 vcc_lo, v0, v1
v_cmp_ne_u64_e32 vcc_lo, v[0:1], v[2:3]
// VOP3 (promoted and VOP3-only), modifiers
v_add_f32_e64 v0, -v1, |v2|
v_add_f32_e64 v0, v1, v2 clamp
v_mul_f32_e64 v0, v1, v2 mul:2
v_cmp_lt_f32_e64 s0, v0, v1
v_cmpx_gt_u32_e64 s3, v1
v_cndmask_b32_e64 v0, v1, v2, s4
v_fma_f32 v0, v1, v2, v3
v_fma_f32 v0, v1, 0x3e800000, v3
v_fma_f64 v[0:1], v[2:3], v[4:5], v[6:7]
v_div_scale_f32 v0, vcc_lo, v1, v1, v2
v_div_fmas_f32 v0, v1, v2, v3
v_div_fixup_f32 v0, v1, v2, v3
v_mad_u64_u32 v[0:1], null, v2, v3, v[4:5]
v_mad_i64_i32 v[0:1], s0, v2, v3, v[4:5]
v_add_co_u32 v0, vcc_lo, v1, v2
v_add_co_ci_u32_e64 v0, s0, v1, v2, s1
v_lshlrev_b64 v[0:1], 3, v[2:3]
v_bfe_u32 v0, v1, 8, 8
v_perm_b32 v0, v1, v2, 0x5040100
v_add3_u32 v0, v1, v2, v3
v_readlane_b32 s0, v1, 5
v_writelane_b32 v0, s1, 7
v_mbcnt_lo_u32_b32 v0, -1, 0
v_mul_lo_u32 v0, v1, v2
v_add_nc_u32_e64 v0, v1, v2 clamp
v_fma_f16 v0, v1, v2, v3 op_sel:[1,0,0,0]
v_ldexp_f32 v0, v1, v2
v_trig_preop_f64 v[0:1], v[2:3], 1
v_permlane16_b32 v0, v1, s0, s1
v_cvt_pk_rtz_f16_f32_e64 v0, v1, v2
v_max3_f32 v0, v1, v2, v3
v_add_f32_e64_dpp v0, v1, v2 quad_perm:[0,1,2,3] row_mask:0xf bank_mask:0xf
// VOP3P
v_pk_add_f16 v0, v1, v2
v_pk_add_f16 v0, v1, 1.0
v_pk_fma_f16 v0, v1, v2, v3 op_sel:[1,0,0] op_sel_hi:[0,1,1] neg_lo:[1,0,0]
v_pk_mul_lo_u16 v0, v1, v2
v_dot2_f32_f16 v0, v1, v2, v3
v_dot4_i32_iu8 v0, v1, v2, v3 neg_lo:[1,1,0]
v_fma_mix_f32 v0, v1, v2, v3 op_sel_hi:[1,1,0]
v_wmma_f32_16x16x16_f16 v[16:23], v[0:7], v[8:15], v[16:23]
v_wmma_i32_16x16x16_iu8 v[8:15], v[0:3], v[4:7], v[8:15]
// VOPD
v_dual_mov_b32 v0, 0 :: v_dual_mov_b32 v1, s2
v_dual_add_f32 v0, v1, v2 :: v_dual_mul_f32 v3, v4, v5
v_dual_fmac_f32 v0, v1, v2 :: v_dual_add_nc_u32 v3, v4, v5
v_dual_fmaak_f32 v0, v1, v2, 0x3f800000 :: v_dual_mov_b32 v1, 0x3f800000
v_dual_cndmask_b32 v0, v1, v2 :: v_dual_lshlrev_b32 v3, 2, v4
// DS
ds_load_b32 v0, v1
ds_load_b32 v0, v1 offset:1024
ds_store_b32 v1, v2 offset:4
ds_load_2addr_b32 v[0:1], v2 offset0:1 offset1:9
ds_store_2addr_stride64_b64 v1, v[2:3], v[4:5] offset0:1 offset1:2
ds_add_u32 v1, v2
ds_add_rtn_u32 v0, v1, v2
ds_cmpstore_rtn_b32 v0, v1, v2, v3
ds_load_b128 v[0:3], v4
ds_store_b8 v1, v2
ds_load_u16_d16_hi v0, v1
ds_swizzle_b32 v0, v1 offset:swizzle(BITMASK_PERM,"01pip")
ds_bpermute_b32 v0, v1, v2
ds_add_f32 v1, v2
// FLAT / GLOBAL / SCRATCH
flat_load_b32 v0, v[1:2]
flat_store_b64 v[1:2], v[3:4] offset:16
flat_atomic_add_u32 v0, v[1:2], v3 glc
global_load_b32 v0, v[1:2], off
global_load_b32 v0, v1, s[2:3] offset:-16
global_load_b128 v[0:3], v4, s[2:3]
global_store_b16 v[0:1], v2, off offset:2
global_store_d16_hi_b16 v[0:1], v2, off
global_load_d16_hi_b16 v0, v[1:2], off
global_atomic_add_u32 v[1:2], v0, off
global_atomic_cmpswap_b32 v0, v1, v[2:3], s[4:5] glc
global_atomic_add_u64 v[0:1], v[2:3], off offset:8
global_atomic_add_f32 v0, v1, s[2:3]
global_atomic_max_i64 v[0:1], v2, v[4:5], s[6:7] glc
scratch_load_b32 v0, off, s6
scratch_store_b32 off, v3, s6 dlc
scratch_load_b64 v[0:1], v2, off
scratch_store_b128 v0, v[1:4], off offset:32
// MUBUF (named, not executed)
buffer_load_b32 v0, v1, s[4:7], 0 offen
buffer_store_b32 v0, off, s[4:7], s8
