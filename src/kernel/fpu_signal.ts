import { dataModels } from '../../layouts/abi.js';
import { fregs_state } from '../../layouts/frames.js';
import { K } from '../abi/constants.js';
import { sizeOf } from '../schema/layout.js';
import { hasIa32, type KernelConfig, type KernelXfeatures } from './xstate.js';

/**
 * The FPU part of a signal frame: arch/x86/kernel/fpu/signal.c (Linux 7.3.4; the same rules
 * since 5.16, and with max_size = default_size since 5.14).
 */

/** sizeof(struct fregs_state): the FSAVE header 32-bit frames carry in front of the image. */
export const FREGS_STATE_SIZE = sizeOf(fregs_state, dataModels.lp64);

/** The alignment XSAVE needs for its image (and fpu__alloc_mathframe() gives it). */
export const XSAVE_ALIGNMENT = 64;

/** xstate_sigframe_size(): the task's image plus FP_XSTATE_MAGIC2 behind it when XSAVE is used. */
export function xstateSigframeSize(userSize: number, k: Pick<KernelXfeatures, 'xsave'>): number {
  return userSize + (k.xsave ? K.FP_XSTATE_MAGIC2_SIZE : 0);
}

/**
 * fpu__get_fpstate_size() — the kernel's misnamed `fpu_default_state_size`: the largest math
 * frame any task can get (max_size, not default_size), with the FSAVE header counted whenever
 * 32-bit frames exist, even for 64-bit tasks.
 */
export function fpstateSize(k: KernelXfeatures, config: KernelConfig): number {
  return xstateSigframeSize(k.maxSize, k) + (hasIa32(config) && k.fxsr ? FREGS_STATE_SIZE : 0);
}

/**
 * Bytes of FSAVE header in front of the image: 32-bit frames on a CPU with FXSR (ia32_frame &&
 * use_fxsr() in fpu__alloc_mathframe(), save_fsave_header(), __fpu_restore_sig()).
 */
export function fsaveHeaderSize(ia32Frame: boolean, k: Pick<KernelXfeatures, 'fxsr'>): number {
  return ia32Frame && k.fxsr ? FREGS_STATE_SIZE : 0;
}

/**
 * The math frame's size — image, MAGIC2 and FSAVE header — as fpu__alloc_mathframe() reserves it,
 * save_sw_bytes() records it in sw_reserved.extended_size and fpu__restore_sig() checks access to it.
 */
export function mathFrameSize(
  userSize: number,
  ia32Frame: boolean,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
): number {
  return xstateSigframeSize(userSize, k) + fsaveHeaderSize(ia32Frame, k);
}

export interface MathFrame {
  /** The 64-aligned XSAVE/FXSAVE image (buf_fx). */
  readonly bufFx: bigint;
  /** What sigcontext.fpstate points to: buf_fx, or the FSAVE header below it in 32-bit frames. */
  readonly fpstate: bigint;
  /** Bytes from fpstate to the end of MAGIC2 (the `size` copy_fpstate_to_sigframe() gets). */
  readonly mathSize: number;
}

/** fpu__alloc_mathframe(): where the FP state goes below `sp`. */
export function allocMathframe(
  sp: bigint,
  ia32Frame: boolean,
  userSize: number,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
): MathFrame {
  const bufFx = roundDown(sp - BigInt(xstateSigframeSize(userSize, k)), XSAVE_ALIGNMENT);
  return {
    bufFx,
    fpstate: bufFx - BigInt(fsaveHeaderSize(ia32Frame, k)),
    mathSize: mathFrameSize(userSize, ia32Frame, k),
  };
}

export function roundDown(v: bigint, a: number): bigint {
  const m = BigInt(a);
  return v - (((v % m) + m) % m);
}
