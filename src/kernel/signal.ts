import type { AbiName } from '../../layouts/abi.js';
import { type FrameKind, rt_sigframe, sigframe_ia32 } from '../../layouts/frames.js';
import type { KernelEra, OverflowCheck } from '../../layouts/kernels.js';
import { K } from '../abi/constants.js';
import { structModel } from '../abi/index.js';
import { roundUp, sizeOf } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import { allocMathframe, fpstateSize, roundDown, XSAVE_ALIGNMENT } from './fpu_signal.js';
import { dynamicXfeatures, type TaskFpu } from './task.js';
import { hasIa32, type KernelConfig, type KernelXfeatures } from './xstate.js';

/**
 * Signal-frame placement and the sizes derived from it: arch/x86/kernel/signal.c (Linux 7.3.4;
 * unchanged since 6.2, and since 5.14 for native frames), kernel/signal.c (do_sigaltstack) and
 * arch/x86/kernel/fpu/xstate.c (validate_sigaltstack). Addresses are bigint, sizes number.
 */

/** FRAME_ALIGNMENT: the psABI stack alignment at a call. */
export const FRAME_ALIGNMENT = 16;
/** MAX_FRAME_PADDING and MAX_XSAVE_PADDING: the most alignment can add below either part. */
export const MAX_FRAME_PADDING = FRAME_ALIGNMENT - 1;
export const MAX_XSAVE_PADDING = XSAVE_ALIGNMENT - 1;

/**
 * MAX_FRAME_SIGINFO_UCTXT_SIZE: sizeof(struct sigframe_ia32) when 32-bit frames exist — the
 * biggest frame struct, because it embeds the never-written 624-byte _fpstate_32 — else
 * sizeof(struct rt_sigframe). Laid out by the kernel's compiler: 736 on x86-64, 732 on i386.
 */
export function maxFrameSiginfoUctxtSize(config: KernelConfig): number {
  if (!hasIa32(config)) return sizeOf(rt_sigframe, structModel(rt_sigframe, 'x86_64'));
  return sizeOf(sigframe_ia32, structModel(sigframe_ia32, 'ia32', config.bits));
}

/**
 * init_sigframe_size(): max_frame_size, the worst case over every ABI and task on this kernel —
 * what get_sigframe_size() returns, the aux vector carries as AT_MINSIGSTKSZ and dmesg prints as
 * "signal: max sigframe size: N".
 */
export function maxFrameSize(k: KernelXfeatures, config: KernelConfig): number {
  return roundUp(
    maxFrameSiginfoUctxtSize(config) + MAX_FRAME_PADDING + fpstateSize(k, config) + MAX_XSAVE_PADDING,
    FRAME_ALIGNMENT,
  );
}

/** getauxval(AT_MINSIGSTKSZ): max_frame_size, or undefined where the kernel has no such entry. */
export function atMinsigstksz(k: KernelXfeatures, era: KernelEra, config: KernelConfig): number | undefined {
  return era.atMinsigstksz ? maxFrameSize(k, config) : undefined;
}

export interface FrameGeometry {
  /** Where placement started: the alt stack top, or the (red-zone-adjusted) interrupted sp. */
  readonly start: bigint;
  /** The frame struct's address: the handler's %rsp/%esp on entry. */
  readonly frame: bigint;
  /** sigcontext.fpstate: the image, or its FSAVE header in 32-bit frames. */
  readonly fpstate: bigint;
  /** The 64-aligned FXSAVE/XSAVE image. */
  readonly bufFx: bigint;
  /** FP_XSTATE_MAGIC2, behind the image (null without XSAVE). */
  readonly magic2: bigint | null;
  readonly mathSize: number;
}

/**
 * Steps 3–5 of get_sigframe(): below `start` go the math frame (fpu__alloc_mathframe), then the
 * frame struct, aligned for the ABI's handler entry.
 */
export function frameGeometry(
  kind: FrameKind,
  start: bigint,
  task: Pick<TaskFpu, 'userSize'>,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
  config: KernelConfig,
): FrameGeometry {
  const m = allocMathframe(start, kind.fsaveHeader, task.userSize, k);
  const below = m.fpstate - BigInt(sizeOf(kind.struct, structModel(kind.struct, kind.abi, config.bits)));
  const frame = roundDown(below + BigInt(kind.entryAlign.add), FRAME_ALIGNMENT) - BigInt(kind.entryAlign.sub);
  return {
    start,
    frame,
    fpstate: m.fpstate,
    bufFx: m.bufFx,
    magic2: k.xsave ? m.bufFx + BigInt(task.userSize) : null,
    mathSize: m.mathSize,
  };
}

export interface AltStack {
  readonly sp: bigint;
  readonly size: bigint;
  /** SS_AUTODISARM: the alt stack is disabled while a handler runs on it. */
  readonly autodisarm?: boolean;
}

export interface SignalDelivery {
  /** The interrupted stack pointer (regs->sp). */
  readonly sp: bigint;
  /** The handler was installed with SA_ONSTACK. */
  readonly onstack: boolean;
  readonly altstack?: AltStack;
}

export type DeliveryOutcome =
  /** The frame fits: the handler runs with %rsp = frame. */
  | 'delivered'
  /** get_sigframe() detects the overflow: no frame, SIGSEGV (fatal if the signal was SIGSEGV). */
  | 'sigsegv'
  /** The frame leaves the alt stack and the kernel does not check: memory below ss_sp is overwritten. */
  | 'overrun';

export interface Placement extends FrameGeometry {
  readonly outcome: DeliveryOutcome;
  readonly onAltstack: boolean;
  readonly nested: boolean;
}

/** __on_sig_stack(): sp lies in (ss_sp, ss_sp + ss_size]. */
function onSigStack(sp: bigint, a: AltStack | undefined): boolean {
  return !!a && a.size > 0n && sp > a.sp && sp - a.sp <= a.size;
}

/**
 * get_sigframe(): where a frame of `kind` goes for one delivery, and whether the kernel delivers
 * it. Not modelled: the ia32 "legacy stack switching" through sa_restorer with a non-flat SS.
 */
export function getSigframe(
  kind: FrameKind,
  d: SignalDelivery,
  task: Pick<TaskFpu, 'userSize'>,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
  era: KernelEra,
  config: KernelConfig,
): Placement {
  const a = d.altstack;
  const nested = !a?.autodisarm && onSigStack(d.sp, a);
  let sp = d.sp - BigInt(kind.redZone);
  let entering = false;
  // sas_ss_flags(sp) == 0: an alt stack is set and sp is not on it (SS_AUTODISARM hides it).
  if (d.onstack && a && a.size > 0n && (a.autodisarm || !onSigStack(sp, a))) {
    sp = a.sp + a.size;
    entering = true;
  }
  const g = frameGeometry(kind, sp, task, k, config);
  const check = overflowCheck(era, config, kind.abi);
  const onAlt = entering || nested;
  const fits = !onAlt || onSigStack(g.frame, a);
  const detected = check === 'entering' ? onAlt : check === 'nested' ? nested : false;
  return {
    ...g,
    onAltstack: onAlt,
    nested,
    outcome: fits ? 'delivered' : detected ? 'sigsegv' : 'overrun',
  };
}

/**
 * When get_sigframe() refuses a frame that would leave the alt stack, for frames of `abi`: ia32
 * frames on a 64-bit kernel went through the compat path (arch/x86/ia32/ia32_signal.c before 6.2).
 */
export function overflowCheck(era: KernelEra, config: KernelConfig, abi: AbiName): OverflowCheck {
  return config.bits === 64 && abi === 'ia32' ? era.overflowCheck.compat : era.overflowCheck.native;
}

/** Bytes from an alt stack's top down to the frame start, for a top address `top`. */
export function bytesBelowTop(
  kind: FrameKind,
  top: bigint,
  task: Pick<TaskFpu, 'userSize'>,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
  config: KernelConfig,
): number {
  return Number(top - frameGeometry(kind, top, task, k, config).frame);
}

/**
 * The frame's footprint for the worst top aligned to `topAlign` (a power of two; 1 = any top):
 * the most bytes it takes below the top, and so the smallest ss_size it fits in — one more, since
 * the frame must start strictly above ss_sp (__on_sig_stack() in get_sigframe()). Only the top's
 * residue modulo 64 matters, so the worst case is taken over the residues such a top can have.
 */
export function frameFit(
  kind: FrameKind,
  topAlign: number,
  task: Pick<TaskFpu, 'userSize'>,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
  config: KernelConfig,
): { bytesBelowTop: number; fits: number; worstTop: bigint } {
  return fitOf(kind, topAlign, task.userSize, k.xsave, k.fxsr, config.bits);
}

// Sizing every kind and state of a fleet asks the same few questions many times.
const fitOf = memo(
  (kind: FrameKind, topAlign: number, userSize: number, xsave: boolean, fxsr: boolean, bits: 64 | 32) =>
    searchFit(kind, topAlign, { userSize }, { xsave, fxsr }, { bits }),
  (topAlign, userSize, xsave, fxsr, bits) => `${topAlign}|${userSize}|${xsave}|${fxsr}|${bits}`,
);

function searchFit(
  kind: FrameKind,
  topAlign: number,
  task: Pick<TaskFpu, 'userSize'>,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
  config: KernelConfig,
): { bytesBelowTop: number; fits: number; worstTop: bigint } {
  const step = Math.min(topAlign, XSAVE_ALIGNMENT);
  // Any base works: placement depends on the top's residue only. Keep it far from zero.
  const base = 1n << 32n;
  let worst = { bytesBelowTop: -1, fits: 0, worstTop: base };
  for (let r = 0; r < XSAVE_ALIGNMENT; r += step) {
    const top = base + BigInt(r);
    const b = bytesBelowTop(kind, top, task, k, config);
    if (b > worst.bytesBelowTop) worst = { bytesBelowTop: b, fits: b + 1, worstTop: top };
  }
  return worst;
}

export interface SigaltstackRule {
  /** Smallest ss_size sigaltstack() accepts (without SS_DISABLE). */
  readonly minAccepted: number;
  readonly rule: string;
}

/**
 * do_sigaltstack() (kernel/signal.c): ENOMEM below MINSIGSTKSZ; then sigaltstack_size_valid()
 * (arch/x86/kernel/signal.c, 5.16+): on kernels with dynamic features or in strict mode, the
 * size must exceed max_frame_size − fpu_default_state_size + perm.__user_state_size, enforced in
 * strict mode or once the process holds permission for a dynamic feature.
 */
export function sigaltstackMinAccepted(
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
  task: Pick<TaskFpu, 'permUserSize' | 'permDynamic'>,
): SigaltstackRule {
  const base = { minAccepted: K.MINSIGSTKSZ, rule: `ss_size >= MINSIGSTKSZ (${K.MINSIGSTKSZ})` };
  if (!era.sigaltstackValidation) return base;
  const strict = config.strictSasSize === true;
  if (dynamicXfeatures(k, era) === 0n && !strict) return base;
  if (!strict && !task.permDynamic) return base;
  const fsize = maxFrameSize(k, config) - fpstateSize(k, config) + task.permUserSize;
  if (fsize + 1 <= K.MINSIGSTKSZ) return base;
  return {
    minAccepted: fsize + 1,
    rule: `ss_size > max_frame_size ${maxFrameSize(k, config)} − fpu_default_state_size ${fpstateSize(k, config)} + perm user size ${task.permUserSize} = ${fsize} (${strict ? 'CONFIG_STRICT_SIGALTSTACK_SIZE' : 'the process holds AMX permission'})`,
  };
}

/**
 * The smallest ss_size on which the kernel delivers a signal: the frame must fit below the top
 * (`fits`, from frameFit or bytesBelowTop + 1) and sigaltstack() must have accepted the size in
 * the first place — so on CPUs whose frames are smaller than MINSIGSTKSZ it is 2048.
 */
export function deliveryMinimum(fits: number, sigaltstack: SigaltstackRule): number {
  return Math.max(fits, sigaltstack.minAccepted);
}

/** deliveryMinimum() for the worst top aligned to `topAlign`, with the footprint and the rule. */
export function minAltstack(
  kind: FrameKind,
  topAlign: number,
  task: TaskFpu,
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
): { minAltstack: number; fit: ReturnType<typeof frameFit>; sigaltstack: SigaltstackRule } {
  const fit = frameFit(kind, topAlign, task, k, config);
  const sigaltstack = sigaltstackMinAccepted(k, era, config, task);
  return { minAltstack: deliveryMinimum(fit.fits, sigaltstack), fit, sigaltstack };
}

export type PermResult = 0 | 'EINVAL' | 'EOPNOTSUPP' | 'ENOSPC';

export interface PermRequest {
  readonly result: PermResult;
  readonly reason: string;
  /** ENOSPC when some thread has an alt stack with 0 < ss_size < this. */
  readonly enospcBelow?: number;
}

/**
 * arch_prctl(ARCH_REQ_XCOMP_PERM, feature): xstate_request_perm() and validate_sigaltstack()
 * (arch/x86/kernel/fpu/xstate.c, Linux 7.3.4). `altstacks` are the ss_size of the process's
 * threads (0 = none). Note the threshold differs from sigaltstack()'s: it uses max_size where
 * sigaltstack() uses fpu_default_state_size (max_size + 4 + 112), and `<` where it uses `>`.
 */
export function requestXcompPerm(
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
  feature: number,
  altstacks: readonly number[] = [],
  alreadyPermitted = false,
): PermRequest {
  if (era.xfeatureMax === null)
    return {
      result: 'EINVAL',
      reason: `Linux ${era.label} has no ARCH_REQ_XCOMP_PERM (unknown arch_prctl option)`,
    };
  if (feature < 0 || feature >= era.xfeatureMax)
    return { result: 'EINVAL', reason: `feature ${feature} ≥ XFEATURE_MAX (${era.xfeatureMax})` };
  const dynamic = dynamicXfeatures(k, era);
  // xstate_prctl_req[]: only a dynamic feature's number maps to a facility (18 → AMX).
  if (!(era.userDynamic as readonly number[]).includes(feature))
    return { result: 'EOPNOTSUPP', reason: `feature ${feature} names no dynamically enabled facility` };
  if ((dynamic & (1n << BigInt(feature))) === 0n)
    return {
      result: 'EOPNOTSUPP',
      reason: `the kernel did not enable feature ${feature} in XCR0 on this CPU`,
    };
  if (alreadyPermitted) return { result: 0, reason: 'already permitted' };
  // usize: standard size of the permitted set plus the facility — every user feature enabled.
  const usize = k.maxSize;
  const enospcBelow = maxFrameSize(k, config) - k.maxSize + usize;
  const small = altstacks.find((s) => s > 0 && s < enospcBelow);
  if (small !== undefined)
    return {
      result: 'ENOSPC',
      reason: `a thread's alt stack (${small} bytes) is smaller than ${enospcBelow} (max_frame_size − max_size + permitted size)`,
      enospcBelow,
    };
  return { result: 0, reason: 'permission granted for the process', enospcBelow };
}
