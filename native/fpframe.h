/*
 * Where the parts of a signal frame's FP state are, for the helpers that read or edit it in a
 * handler: from glibc's own declarations of the kernel's structs (<signal.h>, bits/sigcontext.h),
 * so no helper repeats an offset from sigframe's model. sigcontext.fpstate (uc_mcontext.fpregs)
 * points at the FXSAVE/XSAVE image in 64-bit frames; 32-bit frames put the 112-byte FSAVE header
 * first and the image after it (struct _fpstate's _fxsr_env onwards). Offsets below FX_IMAGE are
 * from the image's start.
 */
#ifndef SIGFRAME_FPFRAME_H
#define SIGFRAME_FPFRAME_H
#include <signal.h>
#include <stddef.h>

#ifdef __x86_64__
#define FX_IMAGE 0
#define FX_MXCSR offsetof(struct _fpstate, mxcsr)
#define FX_MXCSR_MASK offsetof(struct _fpstate, mxcr_mask)
#define FX_CWD offsetof(struct _fpstate, cwd)
#define FX_ST0 offsetof(struct _fpstate, _st)
#define FX_XMM0 offsetof(struct _fpstate, _xmm)
#else
#define FX_IMAGE offsetof(struct _fpstate, _fxsr_env)
#define FX_MXCSR (offsetof(struct _fpstate, mxcsr) - FX_IMAGE)
/* glibc names the FXSAVE image's MXCSR_MASK word __glibc_reserved1 in the 32-bit struct. */
#define FX_MXCSR_MASK (offsetof(struct _fpstate, __glibc_reserved1) - FX_IMAGE)
#define FX_CWD 0
#define FX_ST0 (offsetof(struct _fpstate, _fxsr_st) - FX_IMAGE)
#define FX_XMM0 (offsetof(struct _fpstate, _xmm) - FX_IMAGE)
/* The FSAVE header in front: the x87 state the 32-bit restore path converts back (convert_to_fxsr). */
#define FS_CW offsetof(struct _fpstate, cw)
#define FS_ST0 offsetof(struct _fpstate, _st)
#define FS_MAGIC offsetof(struct _fpstate, magic)
#endif
/* The 512-byte FXSAVE image; sw_reserved is its last 48 bytes. */
#define FXSAVE_BYTES (sizeof(struct _fpstate) - FX_IMAGE)
#define FX_SW (FXSAVE_BYTES - sizeof(struct _fpx_sw_bytes))
#define FX_SW_MAGIC1 (FX_SW + offsetof(struct _fpx_sw_bytes, magic1))
#define FX_SW_EXTENDED_SIZE (FX_SW + offsetof(struct _fpx_sw_bytes, extended_size))
#define FX_SW_XFEATURES (FX_SW + offsetof(struct _fpx_sw_bytes, xstate_bv))
#define FX_SW_XSTATE_SIZE (FX_SW + offsetof(struct _fpx_sw_bytes, xstate_size))
/* The XSAVE header right behind the FXSAVE image: XSTATE_BV, XCOMP_BV, the reserved words. */
#define FX_HDR FXSAVE_BYTES
#define FX_HDR_XSTATE_BV (FX_HDR + offsetof(struct _xsave_hdr, xstate_bv))
#define FX_HDR_RESERVED1(i) (FX_HDR + offsetof(struct _xsave_hdr, __glibc_reserved1) + 8 * (i))
#define FX_HDR_RESERVED2(i) (FX_HDR + offsetof(struct _xsave_hdr, __glibc_reserved2) + 8 * (i))

#endif
