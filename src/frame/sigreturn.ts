import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import {
  type FpuRestore,
  fpuRestoreSig,
  type MxcsrOrigin,
  type RestoreStep,
  readSw,
  type Sw,
  type X87Origin,
} from '../kernel/fpu_signal.js';
import {
  restoreAltstackNote,
  restoreSigcontext,
  returnToUser,
  type SigcontextRegs,
} from '../kernel/sigreturn.js';
import { getU32, type UserMemory, userOffset, viewOf } from '../kernel/uaccess.js';
import { locate } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { bitsOf, FXSAVE_SIZE, xfeatureName } from '../xsave/catalog.js';
import { effectiveMxcsrMask, MXCSR_INIT, type RestoreOutcome } from '../xsave/restore.js';
import type { Field, FrameLayout } from './layout.js';
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
  /** Which first access raises the #PF: the instruction fetch at `resumes.ip` or the stack access at `resumes.sp`. */
  readonly fault?: 'fetch' | 'stack';
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

/**
 * The sigcontext members the verdict reads: what restore_sigcontext() and the return to user mode
 * look at (regsOf()), and the FP state's pointer.
 */
export const SIGRETURN_MEMBERS = [
  'ip',
  'sp',
  'flags',
  'cs',
  'ss',
  'ds',
  'es',
  'fs',
  'gs',
  'fpstate',
] as const;

/** The words rt_sigreturn reads from a frame struct before the FP state: what the verdict needs. */
export interface FrameWords {
  /** The sigcontext members of SIGRETURN_MEMBERS the kind has, by uapi name; 8-byte ones bigint. */
  readonly sigcontext: Readonly<Partial<Record<(typeof SIGRETURN_MEMBERS)[number], number | bigint>>>;
  /** uc_flags and uc_stack, for kinds with a ucontext (all but the ia32 legacy frame). */
  readonly uc: {
    readonly uc_flags: bigint;
    readonly ss_sp: bigint;
    /** A C int, as the frame value has it. */
    readonly ss_flags: number;
    readonly ss_size: bigint;
  } | null;
}

const DV_GET = { 1: 'getUint8', 2: 'getUint16', 4: 'getUint32', 8: 'getBigUint64' } as const;

/**
 * readFrameWords() for one layout, generated: one object literal of loads at constant offsets,
 * where a loop storing members by name made a new dictionary per frame.
 */
const wordReader = memo((l: FrameLayout): ((dv: DataView, at: number) => FrameWords) => {
  const { kind, target } = l;
  const load = (f: { offset: number; size: number }, type: string = DV_GET[f.size as Field['size']]) =>
    `dv.${type}(at + ${f.offset}, true)`;
  const uc = (m: string) => locate(kind.struct, target.model, `${kind.ucontext}.${m}`);
  const big = (m: string) => `BigInt(${load(uc(m))})`;
  const sc = l.sigcontext.fields
    .filter(([name]) => (SIGRETURN_MEMBERS as readonly string[]).includes(name))
    .map(([name, f]) => `${JSON.stringify(name)}: ${load(f)}`);
  const ucWords =
    kind.ucontext === null
      ? 'null'
      : `{ uc_flags: ${big('uc_flags')}, ss_sp: ${big('uc_stack.ss_sp')}, ss_flags: ${load(uc('uc_stack.ss_flags'), 'getInt32')}, ss_size: ${big('uc_stack.ss_size')} }`;
  return new Function('dv', 'at', `return { sigcontext: { ${sc.join(', ')} }, uc: ${ucWords} };`) as (
    dv: DataView,
    at: number,
  ) => FrameWords;
});

/**
 * The frame's words the verdict and the delivery read, at the layout's offsets: a few loads
 * instead of the whole frame struct's decode, which decodeFrame() makes only when it is read.
 * The frame struct must lie in `bytes` from `at`.
 */
export function readFrameWords(bytes: Uint8Array, at: number, l: FrameLayout): FrameWords {
  return wordReader(l)(viewOf(bytes), at);
}

/**
 * A frame's FP state as the decoder shows it: where sigcontext.fpstate points, the image
 * (buf_fx), and the words of it the verdict reads where they lie in the given bytes; the whole
 * FXSAVE image is decoded only on request (fxsaveOf()).
 */
export interface FpImage {
  readonly memory: Memory;
  readonly fpstate: bigint;
  readonly bufFx: bigint;
  /** Where the FXSAVE image starts in the bytes; -1 when it is not (wholly) in them. */
  readonly fxAt: number;
  /** sw_reserved's words; undefined when the FXSAVE image is not (wholly) in the bytes. */
  readonly sw: Sw | undefined;
  /** FXSAVE's MXCSR_MASK as the saving CPU recorded it (with the image). */
  readonly mxcsrMask: number | undefined;
  /** XSTATE_BV; undefined when the XSAVE header is not (wholly) in the bytes. */
  readonly xstateBv: bigint | undefined;
}

const MXCSR_MASK_AT = locate(fpstate_64, dataModels.lp64, 'mxcsr_mask').offset;
const SW_AT = locate(fpstate_64, dataModels.lp64, 'sw_reserved').offset;
const RESERVED2 = locate(fpstate_64, dataModels.lp64, 'reserved2');

/** Reads the words of the FP state behind `fpstate` the verdict needs, where they are in the bytes. */
export function readFpImage(memory: Memory, fpstate: bigint, l: FrameLayout): FpImage {
  const bufFx = fpstate + BigInt(l.fsaveHeader);
  const { header: h } = l.image;
  const fxAt = userOffset(memory, bufFx, FXSAVE_SIZE);
  const hdr = fxAt < 0 ? -1 : userOffset(memory, bufFx + BigInt(h.offset), h.size);
  const b = memory.bytes;
  return {
    memory,
    fpstate,
    bufFx,
    fxAt,
    sw: fxAt < 0 ? undefined : readSw(b, fxAt + SW_AT),
    mxcsrMask: fxAt < 0 ? undefined : viewOf(b).getUint32(fxAt + MXCSR_MASK_AT, true),
    xstateBv: hdr < 0 ? undefined : viewOf(b).getBigUint64(fxAt + h.xstateBv.offset, true),
  };
}

/** The FXSAVE image decoded, its hardware-reserved bytes (never written by XSAVE) as zero. */
export function fxsaveOf(img: FpImage): Fxsave | undefined {
  if (img.fxAt < 0) return undefined;
  const v = decode(fpstate_64, dataModels.lp64, img.memory.bytes, img.fxAt) as {
    -readonly [K in keyof Fxsave]: Fxsave[K];
  };
  v.reserved2 = new Uint8Array(RESERVED2.size);
  return v;
}

/**
 * The CPU's MXCSR_MASK, which both XRSTOR and the kernel's software checks apply: measured on the
 * profile's machine when it says (capture.mxcsr_mask), else what the frame's own FXSAVE image
 * recorded (the CPU that saved it), else the SDM's default.
 */
function mxcsrMaskFor(t: FrameTarget, img: FpImage | undefined, notes: string[]): number {
  const measured = t.profile.file.capture?.mxcsr_mask;
  if (measured !== undefined) return measured;
  const own = img?.mxcsrMask;
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

/** A verdict while it is assembled, before it is handed out read-only. */
type Writable<T> = { -readonly [K in keyof T]?: T[K] };

function regsOf(sc: FrameWords['sigcontext'], ia32: boolean): SigcontextRegs {
  const ip = big(sc.ip);
  const sp = big(sc.sp);
  const flags = big(sc.flags);
  const cs = Number(sc.cs ?? 0);
  const ss = Number(sc.ss ?? 0);
  if (!ia32) return { ip, sp, flags, cs, ss };
  const seg = (v: number | bigint | undefined) => Number(v ?? 0);
  return { ip, sp, flags, cs, ss, ds: seg(sc.ds), es: seg(sc.es), fs: seg(sc.fs), gs: seg(sc.gs) };
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
  words: FrameWords,
  img: FpImage | undefined,
  t: FrameTarget,
): Verdict {
  const kind = frameKinds[t.kind];
  const ia32 = kind.abi === 'ia32';
  // The legacy ia32 frame returns through sigreturn(2), every other kind through rt_sigreturn(2).
  const syscall = kind.ucontext === null ? 'sigreturn' : 'rt_sigreturn';
  const notes: string[] = [];
  const steps: RestoreStep[] = [];
  const sc = words.sigcontext;
  const uc = words.uc;
  const regs = restoreSigcontext(
    {
      regs: regsOf(sc, ia32),
      ucFlags: uc && !ia32 ? uc.uc_flags : undefined,
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
  for (const x of fp.steps) steps.push(x);
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
  for (const x of fp.notes) notes.push(x);
  if (uc) notes.push(restoreAltstackNote(uc.ss_flags));
  const mxcsrValue =
    fp.mxcsr === 'init' ? MXCSR_INIT : fp.mxcsrAt !== undefined ? getU32(mem, fp.mxcsrAt) : undefined;
  const back = returnToUser(regs, ia32, t.config.bits, t.profile.cpuid.vendor());
  for (const x of back.steps) steps.push(x);
  for (const x of back.notes) notes.push(x);
  // Built key by key in the order the output shows them: V8 copies `{ ...a, ...b, k }` through its
  // slow path (some µs a verdict, more than all the kernel rules together).
  const mxcsr: { source: MxcsrOrigin; address?: bigint; value?: number } = { source: fp.mxcsr };
  if (fp.mxcsrAt !== undefined) mxcsr.address = fp.mxcsrAt;
  if (mxcsrValue !== undefined) mxcsr.value = mxcsrValue;
  const x87: { source: X87Origin; address?: bigint } = { source: fp.x87 };
  if (fp.x87At !== undefined) x87.address = fp.x87At;
  const r = back.regs;
  const resumes: Writable<NonNullable<Verdict['resumes']>> = {
    ip: r.ip,
    sp: r.sp,
    flags: r.flags,
    cs: r.cs,
    ss: r.ss,
  };
  if (r.ds !== undefined) {
    resumes.ds = r.ds;
    resumes.es = r.es;
    resumes.fs = r.fs;
    resumes.gs = r.gs;
  }
  resumes.mode = back.mode;
  const cls = fpClass(fp);
  const v: Writable<Verdict> =
    back.outcome === 'resumes'
      ? { verdict: cls.verdict, reason: cls.reason }
      : back.outcome === 'sigtrap'
        ? { verdict: 'sigtrap', reason: `${back.reason}; the FP state: ${cls.verdict}` }
        : {
            verdict: 'sigsegv',
            phase: 'return',
            trap: back.trap!,
            reason: `${syscall} succeeds (${cls.verdict}), then ${back.reason}`,
          };
  if (back.fault) v.fault = back.fault;
  v.restored = fp.restored;
  v.init = fp.init;
  v.mxcsr = mxcsr;
  v.x87 = x87;
  if (fp.path !== 'init') v.image = { address: fp.image, format: fp.format };
  v.resumes = resumes as Verdict['resumes'];
  v.steps = steps;
  v.notes = notes;
  return v as Verdict;
}
