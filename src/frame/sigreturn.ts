import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { fsaveHeaderSize, mathFrameSize } from '../kernel/fpu_signal.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { bitsOf, FXSAVE_SIZE, XSAVE_HDR_SIZE } from '../xsave/catalog.js';
import type { FrameLayout } from './layout.js';
import type { FrameTarget } from './target.js';

/** What rt_sigreturn()/sigreturn() would do with a frame's FP state on the target kernel and task. */
export type VerdictKind = 'full' | 'fx-only' | 'init' | 'sigsegv';

export interface Verdict {
  readonly verdict: VerdictKind;
  readonly reason: string;
  /** Components loaded from the frame. */
  readonly restored: bigint;
  /** Components the kernel sets to their initial state instead. */
  readonly init: bigint;
  readonly notes: readonly string[];
}

/** The captured bytes, addressed as the task saw them; reads outside are "unreadable". */
export interface Memory {
  readonly address: bigint;
  readonly bytes: Uint8Array;
}

export type Fxsave = Infer<typeof fpstate_64>;
export type XsaveHeader = Infer<typeof xstate_header>;

/**
 * A frame's FP state as the decoder read it, once: where sigcontext.fpstate points, the image
 * (buf_fx), and the FXSAVE image and XSAVE header where they lie in the given bytes.
 */
export interface FpImage {
  readonly memory: Memory;
  readonly fpstate: bigint;
  readonly bufFx: bigint;
  /** Undefined when the FXSAVE image is not (wholly) in the bytes. */
  readonly legacy: Fxsave | undefined;
  /** Undefined when the XSAVE header is not (wholly) in the bytes. */
  readonly header: XsaveHeader | undefined;
}

function slice(m: Memory, addr: bigint, len: number): Uint8Array | undefined {
  const off = addr - m.address;
  if (off < 0n || off + BigInt(len) > BigInt(m.bytes.length)) return undefined;
  return m.bytes.subarray(Number(off), Number(off) + len);
}

/**
 * Reads the FXSAVE image and the XSAVE header behind `fpstate` where they are in the bytes; the
 * FXSAVE image's hardware-reserved bytes (never written by XSAVE) read as zero.
 */
export function readFpImage(memory: Memory, fpstate: bigint, l: FrameLayout): FpImage {
  const bufFx = fpstate + BigInt(l.fsaveHeader);
  const fx = slice(memory, bufFx, FXSAVE_SIZE);
  const hdr = fx && slice(memory, bufFx + BigInt(l.image.header.offset), l.image.header.size);
  const legacy = fx && decode(fpstate_64, dataModels.lp64, fx);
  return {
    memory,
    fpstate,
    bufFx,
    legacy: legacy && { ...legacy, reserved2: new Uint8Array(legacy.reserved2.length) },
    header: hdr && decode(xstate_header, dataModels.lp64, hdr),
  };
}

/**
 * Highest user address + 1 that access_ok() accepts: TASK_SIZE_MAX with 4-level paging,
 * (1 << 47) − PAGE_SIZE (arch/x86/include/asm/page_64_types.h), and for 32-bit tasks
 * IA32_PAGE_OFFSET, 0xffffe000 (asm/page_64_types.h TASK_SIZE_32). 5-level paging raises the
 * first; sigframe does not model it.
 */
const USER_END = { 64: 0x7ffffffff000n, 32: 0xffffe000n } as const;

/**
 * fpu__restore_sig(), __fpu_restore_sig(), check_xstate_in_sigframe() and the XRSTOR/FXRSTOR
 * they end in (arch/x86/kernel/fpu/signal.c, Linux 7.3.4), applied to the frame's FP state (`img`,
 * undefined when sigcontext.fpstate is NULL) for the target's task: its user_size and
 * user_xfeatures decide what a frame may restore.
 */
export function sigreturnVerdict(img: FpImage | undefined, t: FrameTarget): Verdict {
  const kind = frameKinds[t.kind];
  const task = t.task;
  const notes: string[] = [];
  const fail = (reason: string): Verdict => ({ verdict: 'sigsegv', reason, restored: 0n, init: 0n, notes });
  if (!img) {
    return {
      verdict: 'init',
      reason: 'sigcontext.fpstate is NULL: the FPU registers are reset to their initial state',
      restored: 0n,
      init: task.userXfeatures | XFEATURE_MASK.FPSSE,
      notes,
    };
  }
  const { memory: mem, fpstate, bufFx } = img;
  const ia32Fx = fsaveHeaderSize(kind.fsaveHeader, t.k) > 0;
  const size = mathFrameSize(task.userSize, kind.fsaveHeader, t.k);
  const end = USER_END[kind.abi === 'ia32' ? 32 : 64];
  if (fpstate + BigInt(size) > end) {
    return fail(`access_ok() fails: fpstate 0x${fpstate.toString(16)} + ${size} bytes is not user memory`);
  }
  const fx = img.legacy;
  if (!fx) {
    return fail(
      `fpstate 0x${fpstate.toString(16)}: the FXSAVE image at 0x${bufFx.toString(16)} is not in the given bytes (${mem.bytes.length} from 0x${mem.address.toString(16)}); the kernel would fault reading unmapped memory`,
    );
  }
  if (ia32Fx) notes.push('ia32: the x87 registers are restored from the FSAVE header, not the FXSAVE image');
  const mxcsrBad = (fx.mxcsr & 0xffff0000) !== 0;

  // check_xstate_in_sigframe(): anything off and the frame is restored as plain FXSAVE state.
  let fxOnly: string | undefined;
  const sw = fx.sw_reserved;
  if (t.k.xsave) {
    if (sw.magic1 !== K.FP_XSTATE_MAGIC1)
      fxOnly = `sw_reserved.magic1 is 0x${sw.magic1.toString(16)}, not FP_XSTATE_MAGIC1`;
    else if (sw.xstate_size < FXSAVE_SIZE + XSAVE_HDR_SIZE)
      fxOnly = `sw_reserved.xstate_size ${sw.xstate_size} < ${FXSAVE_SIZE + XSAVE_HDR_SIZE}`;
    else if (sw.xstate_size > task.userSize)
      fxOnly = `sw_reserved.xstate_size ${sw.xstate_size} > the task's user_size ${task.userSize}`;
    else if (sw.xstate_size > sw.extended_size)
      fxOnly = `sw_reserved.xstate_size ${sw.xstate_size} > extended_size ${sw.extended_size}`;
    else {
      const m2 = slice(mem, bufFx + BigInt(sw.xstate_size), 4);
      if (!m2)
        return fail(
          `MAGIC2 at 0x${(bufFx + BigInt(sw.xstate_size)).toString(16)} is outside the given bytes: the read would fault`,
        );
      const magic2 = new DataView(m2.buffer, m2.byteOffset, 4).getUint32(0, true);
      if (magic2 !== K.FP_XSTATE_MAGIC2)
        fxOnly = `MAGIC2 at fpstate + xstate_size is 0x${magic2.toString(16)}, not FP_XSTATE_MAGIC2`;
    }
  } else fxOnly = 'the CPU has no XSAVE';

  const legacyMask = XFEATURE_MASK.FPSSE;
  if (fxOnly !== undefined) {
    if (!ia32Fx && bufFx % 16n !== 0n)
      return fail('FXRSTOR from an address that is not 16-byte aligned raises #GP');
    if (mxcsrBad) return fail(`MXCSR 0x${fx.mxcsr.toString(16)} sets reserved bits: FXRSTOR raises #GP`);
    return {
      verdict: 'fx-only',
      reason: `${fxOnly}: only the legacy x87/SSE state is restored`,
      restored: legacyMask,
      init: task.userXfeatures & ~legacyMask,
      notes,
    };
  }

  const hdr = img.header;
  if (!hdr) return fail('the XSAVE header is outside the given bytes: the read would fault');
  const xstateBv = hdr.xfeatures;
  if (!ia32Fx && bufFx % 64n !== 0n) {
    return fail(`the XSAVE image at 0x${bufFx.toString(16)} is not 64-byte aligned: XRSTOR raises #GP`);
  }
  const xcr0 = t.k.xcr0;
  if ((xstateBv & ~xcr0) !== 0n) {
    return fail(
      `XSTATE_BV 0x${xstateBv.toString(16)} sets bits outside XCR0 0x${xcr0.toString(16)} (${bitsOf(xstateBv & ~xcr0).join(', ')}): XRSTOR raises #GP`,
    );
  }
  // XRSTOR (standard form) checks header bytes 8..23 only (Intel SDM Vol. 1 §13.8; measured on
  // Linux 6.18 / AMD EPYC by native/sigreturn.c: bytes 48..55 pass). The ia32 path copies the
  // header through validate_user_xstate_header(), which rejects any non-zero reserved byte.
  if (hdr.reserved1.some((x) => x !== 0n)) {
    return fail('XCOMP_BV or XSAVE header bytes 16..23 are not zero: XRSTOR (standard form) raises #GP');
  }
  if (hdr.reserved2.some((x) => x !== 0n)) {
    if (ia32Fx)
      return fail('ia32: reserved XSAVE header bytes are not zero (validate_user_xstate_header: EINVAL)');
    notes.push('reserved XSAVE header bytes 24..63 are not zero; XRSTOR does not check them');
  }
  if (mxcsrBad) return fail(`MXCSR 0x${fx.mxcsr.toString(16)} sets reserved bits: XRSTOR raises #GP`);
  const rfbm = sw.xfeatures & task.userXfeatures;
  if (ia32Fx && (sw.xfeatures & ~xcr0) !== 0n) {
    return fail(
      'ia32: sw_reserved.xfeatures names features the kernel does not support (validate_user_xstate_header: EINVAL)',
    );
  }
  const restored = rfbm & xstateBv;
  const ignored = sw.xfeatures & ~task.userXfeatures;
  if (ignored !== 0n)
    notes.push(
      `features 0x${ignored.toString(16)} in sw_reserved.xfeatures are not the task's and are ignored`,
    );
  return {
    verdict: 'full',
    reason: 'magic1, xstate_size, extended_size and MAGIC2 check out: XRSTOR restores the frame',
    restored,
    init: (task.userXfeatures | legacyMask) & ~restored,
    notes,
  };
}
