import type { AbiName } from '../../layouts/abi.js';
import { K } from '../abi/constants.js';
import { rt_sigframe, sigframe_ia32 } from '../abi/frames.js';
import { structModel } from '../abi/index.js';
import { FREGS_STATE_SIZE } from '../kernel/fpu_signal.js';
import { FRAME_ALIGNMENT, MAX_FRAME_PADDING } from '../kernel/signal.js';
import type { KernelXfeatures } from '../kernel/xstate.js';
import { roundUp, sizeOf } from '../schema/layout.js';

/** What a C library answers for sysconf(_SC_MINSIGSTKSZ) and sysconf(_SC_SIGSTKSZ). */
export interface LibcSigstksz {
  readonly sc_minsigstksz: number;
  readonly sc_sigstksz: number;
  /** Where the minimum came from. */
  readonly basis: string;
}

/**
 * glibc ≥ 2.34 (sysdeps/unix/sysv/linux/x86/dl-minsigstacksize.h, sysconf-sigstksz.h, glibc
 * 2.43): _SC_MINSIGSTKSZ is the kernel's AT_MINSIGSTKSZ, unclamped. Without one (kernels before
 * 5.14) glibc estimates the frame from CPUID.(0xD,0).EBX — the standard size of the XCR0 the
 * kernel set, i.e. max_size — with its own copy of the kernel's struct sizes (440 for
 * rt_sigframe plus a return address; for i386, 736 + 112 + 4 + 3 arguments); without OSXSAVE it
 * answers MINSIGSTKSZ. x32 builds take the __x86_64__ branch. _SC_SIGSTKSZ is
 * max(4 · max(_SC_MINSIGSTKSZ, MINSIGSTKSZ), SIGSTKSZ).
 */
export function glibcSigstksz(
  atMinsigstksz: number | undefined,
  k: KernelXfeatures,
  abi: AbiName,
): LibcSigstksz {
  let min: number;
  let basis: string;
  if (atMinsigstksz !== undefined) {
    min = atMinsigstksz;
    basis = 'AT_MINSIGSTKSZ from the kernel';
  } else if (k.xsave) {
    const frame =
      abi === 'ia32'
        ? sizeOf(sigframe_ia32, structModel(sigframe_ia32, 'ia32')) + FREGS_STATE_SIZE + 4 + 3 * 4
        : sizeOf(rt_sigframe, structModel(rt_sigframe, 'x86_64')) + 8;
    // Pad to 16, then up to 48 more to reach the XSAVE image's 64-byte alignment, then MAGIC2.
    min =
      roundUp(frame + MAX_FRAME_PADDING, FRAME_ALIGNMENT) + (64 - 16) + k.maxSize + K.FP_XSTATE_MAGIC2_SIZE;
    basis = `no AT_MINSIGSTKSZ: glibc's estimate from CPUID.(0xD,0).EBX = ${k.maxSize}`;
  } else {
    min = K.MINSIGSTKSZ;
    basis = 'no AT_MINSIGSTKSZ and no XSAVE: MINSIGSTKSZ';
  }
  return {
    sc_minsigstksz: min,
    sc_sigstksz: Math.max(4 * Math.max(min, K.MINSIGSTKSZ), K.SIGSTKSZ),
    basis,
  };
}

/**
 * musl ≥ 1.2.3 (src/conf/sysconf.c): the aux vector value is taken as the bare frame, clamped to
 * at least MINSIGSTKSZ − 1024, plus 1 KiB of handler space; _SC_SIGSTKSZ adds
 * SIGSTKSZ − MINSIGSTKSZ more. getauxval() gives 0 on kernels without AT_MINSIGSTKSZ.
 */
export function muslSigstksz(atMinsigstksz: number | undefined): LibcSigstksz {
  const handler = 1024;
  const frame = Math.max(atMinsigstksz ?? 0, K.MINSIGSTKSZ - handler);
  const min = frame + handler;
  return {
    sc_minsigstksz: min,
    sc_sigstksz: min + K.SIGSTKSZ - K.MINSIGSTKSZ,
    basis: atMinsigstksz === undefined ? 'no AT_MINSIGSTKSZ: MINSIGSTKSZ' : 'AT_MINSIGSTKSZ + 1024',
  };
}
