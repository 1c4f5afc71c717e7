import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import {
  type FpuRestore,
  fpuRestoreSig,
  type MxcsrOrigin,
  type RestoreStep,
  type X87Origin,
} from '../kernel/fpu_signal.js';
import {
  restoreAltstackNote,
  restoreSigcontext,
  returnToUser,
  type SigcontextRegs,
} from '../kernel/sigreturn.js';
import { copyFromUser, getU32, type UserMemory } from '../kernel/uaccess.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { valueAt } from '../schema/value.js';
import { bitsOf, FXSAVE_SIZE, xfeatureName } from '../xsave/catalog.js';
import { effectiveMxcsrMask, MXCSR_INIT, type RestoreOutcome } from '../xsave/restore.js';
import { type FrameLayout, sigcontextOf } from './layout.js';
import type { FrameValue } from './state.js';
import type { FrameTarget } from './target.js';

/**
 * What rt_sigreturn()/sigreturn() and the return to user mode do with a frame, as one class:
 * - full: the FP state is restored from the frame (components XSTATE_BV marks INIT go to INIT);
 * - partial: the checks pass but components the frame carries are reset to INIT instead
 *   (sw_reserved.xfeatures leaves them out);
 * - fx-only: the XSAVE checks fail and only the legacy x87/SSE region is restored;
 * - init: nothing of the FP state is taken from the frame (fpstate NULL, or nothing requested);
 * - sigsegv: in rt_sigreturn ("bad frame", phase `sigreturn`) or on the way back to user mode
 *   (phase `return`: IRET's #GP, or the first fetch or access faulting);
 * - sigtrap: TF comes back set and the first instruction traps.
 */
export type VerdictKind = 'full' | 'partial' | 'fx-only' | 'init' | 'sigsegv' | 'sigtrap';

export interface Verdict {
  readonly verdict: VerdictKind;
  readonly phase?: 'sigreturn' | 'return';
  readonly trap?: '#GP' | '#PF';
  readonly reason: string;
  /** Components loaded from the frame. */
  readonly restored: bigint;
  /** Components the kernel sets to their initial state instead. */
  readonly init: bigint;
  /** Where MXCSR comes from, and its value when the frame gives it (or INIT does). */
  readonly mxcsr?: { readonly source: MxcsrOrigin; readonly address?: bigint; readonly value?: number };
  /** Where x87 state comes from: the FXSAVE image, the ia32 FSAVE header, or INIT. */
  readonly x87?: { readonly source: X87Origin; readonly address?: bigint };
  /** The image the restore read, and in which form (standard or compacted XSAVE, FXSAVE, FSAVE). */
  readonly image?: { readonly address: bigint; readonly format: RestoreOutcome['format'] };
  /** The registers the task resumes with, after the kernel's fix-ups (when rt_sigreturn succeeds). */
  readonly resumes?: SigcontextRegs & { readonly mode: 64 | 32 };
  /** Every rule the return went through, in order, with the kernel file or SDM section. */
  readonly steps: readonly RestoreStep[];
  readonly notes: readonly string[];
}

/** The captured bytes, addressed as the task saw them; reads outside are "unreadable". */
export type Memory = UserMemory;

export type Fxsave = Infer<typeof fpstate_64>;
export type XsaveHeader = Infer<typeof xstate_header>;

/**
 * A frame's FP state as the decoder shows it: where sigcontext.fpstate points, the image
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

/**
 * Reads the FXSAVE image and the XSAVE header behind `fpstate` where they are in the bytes; the
 * FXSAVE image's hardware-reserved bytes (never written by XSAVE) read as zero.
 */
export function readFpImage(memory: Memory, fpstate: bigint, l: FrameLayout): FpImage {
  const bufFx = fpstate + BigInt(l.fsaveHeader);
  const fx = copyFromUser(memory, bufFx, FXSAVE_SIZE);
  const hdr = fx && copyFromUser(memory, bufFx + BigInt(l.image.header.offset), l.image.header.size);
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
 * The CPU's MXCSR_MASK, which both XRSTOR and the kernel's software checks apply: measured on the
 * profile's machine when it says (capture.mxcsr_mask), else what the frame's own FXSAVE image
 * recorded (the CPU that saved it), else the SDM's default.
 */
function mxcsrMaskFor(t: FrameTarget, img: FpImage | undefined, notes: string[]): number {
  const measured = t.profile.file.capture?.mxcsr_mask;
  if (measured !== undefined) return measured;
  const own = img?.legacy?.mxcsr_mask;
  if (own !== undefined && own !== 0) {
    notes.push(
      `MXCSR_MASK 0x${own.toString(16)} is the one the frame's FXSAVE image records (the profile has none)`,
    );
    return own;
  }
  notes.push(`MXCSR_MASK unknown: the SDM's default 0x${effectiveMxcsrMask(0).toString(16)} is assumed`);
  return 0;
}

const big = (v: number | bigint | undefined) => BigInt(v ?? 0);

function regsOf(sc: Record<string, number | bigint>, ia32: boolean): SigcontextRegs {
  const base = {
    ip: big(sc.ip),
    sp: big(sc.sp),
    flags: big(sc.flags),
    cs: Number(sc.cs ?? 0),
    ss: Number(sc.ss ?? 0),
  };
  return ia32
    ? {
        ...base,
        ds: Number(sc.ds ?? 0),
        es: Number(sc.es ?? 0),
        fs: Number(sc.fs ?? 0),
        gs: Number(sc.gs ?? 0),
      }
    : base;
}

const names = (mask: bigint) => bitsOf(mask).map(xfeatureName).join(', ');

/** The FP outcome as a class and a reason, before the return to user mode is considered. */
function fpClass(fp: Extract<FpuRestore, { ok: true }>): { verdict: VerdictKind; reason: string } {
  if (fp.path !== 'full') return { verdict: fp.path, reason: fp.reason };
  const dropped = fp.carried & ~fp.restored;
  if (fp.restored === 0n && fp.mxcsr !== 'frame')
    return {
      verdict: 'init',
      reason: `${fp.carried === 0n ? 'XSTATE_BV is 0' : 'sw_reserved.xfeatures requests none of the components the frame carries'}: every FP register is set to INIT`,
    };
  if (dropped !== 0n)
    return {
      verdict: 'partial',
      reason: `sw_reserved.xfeatures leaves out ${names(dropped)}, which the frame carries: they are set to INIT; ${names(fp.restored) || 'nothing'} restored`,
    };
  return { verdict: 'full', reason: fp.reason };
}

/**
 * rt_sigreturn() (arch/x86/kernel/signal_64.c), ia32's rt_sigreturn() and sigreturn()
 * (signal_32.c), for the frame `frame` read from `mem` on the target's kernel and task: the
 * sigcontext restore with its fix-ups, fpu__restore_sig() on the FP state, and the return to
 * user mode. Each rule lives in the kernel module that cites it (src/kernel/sigreturn.ts,
 * fpu_signal.ts) and the SDM's restore instructions (src/xsave/restore.ts).
 */
export function sigreturnVerdict(
  mem: Memory,
  frame: FrameValue,
  img: FpImage | undefined,
  t: FrameTarget,
): Verdict {
  const kind = frameKinds[t.kind];
  const ia32 = kind.abi === 'ia32';
  // The legacy ia32 frame returns through sigreturn(2), every other kind through rt_sigreturn(2).
  const syscall = kind.ucontext === null ? 'sigreturn' : 'rt_sigreturn';
  const notes: string[] = [];
  const steps: RestoreStep[] = [];
  const sc = sigcontextOf(frame, t.kind);
  const uc =
    kind.ucontext === null
      ? undefined
      : (valueAt(frame, kind.ucontext) as { uc_flags: number | bigint; uc_stack: { ss_flags: number } });
  const regs = restoreSigcontext(
    {
      regs: regsOf(sc, ia32),
      ...(uc && !ia32 ? { ucFlags: big(uc.uc_flags) } : {}),
      ia32,
      kernelBits: t.config.bits,
    },
    steps,
    notes,
  );
  const fpstate = big(sc.fpstate);
  const fp = fpuRestoreSig(mem, fpstate, {
    k: t.k,
    task: t.task,
    kernel: t.kernel,
    config: t.config,
    ia32Frame: ia32,
    mxcsrMask: mxcsrMaskFor(t, img, notes),
    xsave: t.profile.xsave,
  });
  steps.push(...fp.steps);
  if (!fp.ok) {
    return {
      verdict: 'sigsegv',
      phase: 'sigreturn',
      reason: `bad frame in ${syscall}: ${fp.reason}`,
      restored: 0n,
      init: 0n,
      steps,
      notes,
    };
  }
  notes.push(...fp.notes);
  if (uc) notes.push(restoreAltstackNote(uc.uc_stack.ss_flags));
  const mxcsrValue =
    fp.mxcsr === 'init' ? MXCSR_INIT : fp.mxcsrAt !== undefined ? getU32(mem, fp.mxcsrAt) : undefined;
  const back = returnToUser(regs, ia32, t.config.bits);
  steps.push(...back.steps);
  notes.push(...back.notes);
  const fpPart = {
    restored: fp.restored,
    init: fp.init,
    mxcsr: {
      source: fp.mxcsr,
      ...(fp.mxcsrAt !== undefined ? { address: fp.mxcsrAt } : {}),
      ...(mxcsrValue !== undefined ? { value: mxcsrValue } : {}),
    },
    x87: { source: fp.x87, ...(fp.x87At !== undefined ? { address: fp.x87At } : {}) },
    ...(fp.path === 'init' ? {} : { image: { address: fp.image, format: fp.format } }),
    resumes: { ...back.regs, mode: back.mode },
  };
  const cls = fpClass(fp);
  if (back.outcome === 'resumes') return { ...cls, ...fpPart, steps, notes };
  if (back.outcome === 'sigtrap')
    return {
      verdict: 'sigtrap',
      reason: `${back.reason}; the FP state: ${cls.verdict}`,
      ...fpPart,
      steps,
      notes,
    };
  return {
    verdict: 'sigsegv',
    phase: 'return',
    trap: back.trap!,
    reason: `${syscall} succeeds (${cls.verdict}), then ${back.reason}`,
    ...fpPart,
    steps,
    notes,
  };
}
