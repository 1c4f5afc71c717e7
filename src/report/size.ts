import { K } from '../abi/constants.js';
import { type FrameKindName, frameKinds } from '../abi/frames.js';
import type { KernelChoice } from '../kernel/eras.js';
import { fpstateSize, xstateSigframeSize } from '../kernel/fpu_signal.js';
import {
  atMinsigstksz,
  MAX_FRAME_PADDING,
  MAX_XSAVE_PADDING,
  maxFrameSiginfoUctxtSize,
  minAltstack,
  type PermRequest,
  requestXcompPerm,
  sigaltstackMinAccepted,
} from '../kernel/signal.js';
import {
  type AmxState,
  amxImpossible,
  amxStates,
  possibleAmxStates,
  type TaskFpu,
  taskFpu,
  XFEATURE_XTILE_DATA,
} from '../kernel/task.js';
import { hasIa32, type KernelConfig, type KernelXfeatures, kernelXfeatures } from '../kernel/xstate.js';
import { glibcSigstksz, type LibcSigstksz, muslSigstksz } from '../libc/sysconf.js';
import { requireConsistent } from '../profile/checks.js';
import type { Profile } from '../profile/profile.js';
import { InputError } from '../schema/errors.js';

/**
 * `sigframe size`: how big an alt stack must be, for one CPU, kernel, ABI and AMX state, with
 * the kernel's and the C libraries' own numbers beside it. Keys are the kernel's and glibc's
 * terms in snake_case.
 */
export interface SizeTarget {
  readonly abi: FrameKindName;
  /** The alt stack's top is a multiple of this (a power of two; 1 = anywhere). */
  readonly topAlign: number;
  readonly config: KernelConfig;
}

export interface FrameSizing {
  readonly kind: FrameKindName;
  readonly struct: string;
  /** xstate_sigframe_size(): the task's XSAVE image plus MAGIC2. */
  readonly xstate_sigframe_size: number;
  /** Bytes from the alt stack's top down to the frame, for the worst top of the given alignment. */
  readonly bytes_below_top: number;
  /** Smallest ss_size on which the kernel delivers a signal, for that top alignment. */
  readonly min_altstack: number;
  /** The same over every possible top address. */
  readonly min_altstack_worst: number;
}

export interface StateSizing {
  readonly amx: AmxState;
  readonly user_size: number;
  readonly user_xfeatures: bigint;
  readonly frame: FrameSizing;
  readonly sigaltstack: { readonly min_accepted: number; readonly rule: string };
  /** The least a runtime must allocate for this thread's alt stack, before its handler's own use. */
  readonly allocate: { readonly minimum: number; readonly why: string };
  readonly hazards: readonly string[];
}

export interface SizeReport {
  readonly profile: string;
  readonly title: string;
  readonly kernel: string;
  readonly era: string;
  readonly kernel_bits: 64 | 32;
  readonly ia32_emulation: boolean;
  readonly strict_sas_size: boolean;
  readonly abi: FrameKindName;
  readonly top_align: number;
  readonly xsave: boolean;
  readonly xcr0: bigint;
  readonly max_size: number;
  readonly default_size: number;
  /** fpu__get_fpstate_size(): the kernel's `fpu_default_state_size`. */
  readonly fpu_default_state_size: number;
  readonly max_frame_siginfo_uctxt_size: number;
  /** What the kernel puts in the aux vector; null before 5.14. */
  readonly at_minsigstksz: number | null;
  readonly at_minsigstksz_formula: string;
  /** The selected AMX state's numbers, repeated from `states` for scripts. */
  readonly amx: AmxState;
  readonly user_size: number;
  readonly user_xfeatures: bigint;
  readonly frame: FrameSizing;
  readonly sigaltstack: StateSizing['sigaltstack'];
  readonly allocate: StateSizing['allocate'];
  readonly states: readonly StateSizing[];
  readonly impossible_states: readonly { readonly amx: AmxState; readonly why: string }[];
  readonly arch_req_xcomp_perm: {
    readonly result: PermRequest['result'];
    readonly reason: string;
    readonly enospc_below?: number;
  };
  readonly glibc: LibcSigstksz;
  readonly musl: LibcSigstksz;
  readonly legacy: { readonly MINSIGSTKSZ: number; readonly SIGSTKSZ: number };
  readonly hazards: readonly string[];
  readonly host?: HostComparison;
}

export interface HostComparison {
  readonly kernel: string;
  readonly at_minsigstksz: number | null;
  readonly matches: boolean;
}

/** Refuses ABI, kernel and alignment combinations no kernel can run, with what would have to change. */
export function checkTargetConfig(target: SizeTarget): void {
  const kind = frameKinds[target.abi];
  const c = target.config;
  if (c.bits === 32 && kind.abi !== 'ia32') {
    throw new InputError(`an i386 kernel runs only ia32 programs, not ${target.abi}`, { path: 'abi' });
  }
  if (kind.abi === 'ia32' && !hasIa32(c)) {
    throw new InputError(
      `${target.abi} frames need IA32_EMULATION, which this kernel configuration lacks (--ia32-emulation off)`,
      { path: 'abi' },
    );
  }
  const a = target.topAlign;
  if (!Number.isInteger(a) || a < 1 || a > 1 << 30 || (a & (a - 1)) !== 0) {
    throw new InputError(`--top-align ${a}: expected a power of two from 1 to 2^30`, { path: 'top-align' });
  }
}

/** checkTargetConfig(), and a CPU the kernel can run on at all. */
export function checkTarget(k: KernelXfeatures, target: SizeTarget): void {
  checkTargetConfig(target);
  if (!k.xsave && !k.fxsr && target.config.bits === 64) {
    throw new InputError('an x86-64 kernel requires FXSR; this CPU profile has none', { path: 'profile' });
  }
}

function frameSizing(kindName: FrameKindName, task: TaskFpu, k: KernelXfeatures, t: SizeTarget): FrameSizing {
  const kind = frameKinds[kindName];
  const aligned = minAltstack(kind, t.topAlign, task, k, t.config);
  const any = minAltstack(kind, 1, task, k, t.config);
  return {
    kind: kindName,
    struct: kind.struct.name,
    xstate_sigframe_size: xstateSigframeSize(task.userSize, k),
    bytes_below_top: aligned.bytesBelowTop,
    min_altstack: aligned.minAltstack,
    min_altstack_worst: any.minAltstack,
  };
}

export function sizeReport(
  profile: Profile,
  kernel: KernelChoice,
  target: SizeTarget,
  selected: AmxState = 'none',
  hostAt?: { kernel: string; at_minsigstksz: number | undefined },
): SizeReport {
  const { config } = target;
  const era = kernel.era;
  requireConsistent(profile);
  const k = kernelXfeatures(profile.cpuid, profile.xsave, era, config);
  checkTarget(k, target);
  const abi = frameKinds[target.abi].abi;
  const why = amxImpossible(k, era, config, abi, selected);
  if (why) throw new InputError(`--amx ${selected}: ${why}`, { path: 'amx' });

  const at = atMinsigstksz(k, era, config);
  const glibc = glibcSigstksz(at, k, abi);
  const musl = muslSigstksz(at);
  const reachable = possibleAmxStates(k, era, config, abi);
  const tasks = new Map(reachable.map((s) => [s, taskFpu(k, era, config, abi, s)]));
  const frames = new Map(reachable.map((s) => [s, frameSizing(target.abi, tasks.get(s)!, k, target)]));

  const states = reachable.map((s): StateSizing => {
    const task = tasks.get(s)!;
    const frame = frames.get(s)!;
    const sas = sigaltstackMinAccepted(k, era, config, task);
    // A thread with permission may execute its first tile instruction at any moment: size for it.
    const later = s === 'permitted' ? reachable.filter((x) => x !== 'none') : [s];
    const worst = later.reduce((m, x) => Math.max(m, frames.get(x)!.min_altstack_worst), 0);
    const minimum = Math.max(worst, sas.minAccepted);
    const whyMin =
      minimum === sas.minAccepted && sas.minAccepted > worst
        ? `sigaltstack() accepts nothing smaller: ${sas.rule}`
        : worst > frame.min_altstack_worst
          ? `the frame after this thread's first AMX use (${worst - 1} bytes below the worst top) must fit`
          : `the frame (${frame.bytes_below_top} bytes below a ${target.topAlign}-aligned top, ${frame.min_altstack_worst - 1} below the worst top) must start above ss_sp`;
    return {
      amx: s,
      user_size: task.userSize,
      user_xfeatures: task.userXfeatures,
      frame,
      sigaltstack: { min_accepted: sas.minAccepted, rule: sas.rule },
      allocate: { minimum, why: whyMin },
      hazards: stateHazards(s, minimum, sas.minAccepted, at),
    };
  });
  const chosen = states.find((s) => s.amx === selected)!;

  const hdr = maxFrameSiginfoUctxtSize(config);
  const fsz = fpstateSize(k, config);
  const perm = requestXcompPerm(k, era, config, XFEATURE_XTILE_DATA);
  const report: SizeReport = {
    profile: profile.name,
    title: profile.file.title,
    kernel: kernel.label,
    era: era.label,
    kernel_bits: config.bits,
    ia32_emulation: config.bits === 64 && hasIa32(config),
    strict_sas_size: config.strictSasSize === true,
    abi: target.abi,
    top_align: target.topAlign,
    xsave: k.xsave,
    xcr0: k.xcr0,
    max_size: k.maxSize,
    default_size: k.defaultSize,
    fpu_default_state_size: fsz,
    max_frame_siginfo_uctxt_size: hdr,
    at_minsigstksz: at ?? null,
    at_minsigstksz_formula:
      at === undefined
        ? `Linux ${era.label} puts no AT_MINSIGSTKSZ in the aux vector`
        : `round_up(${hdr} + ${MAX_FRAME_PADDING} + ${fsz} + ${MAX_XSAVE_PADDING}, 16) = ${at}`,
    amx: selected,
    user_size: chosen.user_size,
    user_xfeatures: chosen.user_xfeatures,
    frame: chosen.frame,
    sigaltstack: chosen.sigaltstack,
    allocate: chosen.allocate,
    states,
    impossible_states: amxStates
      .filter((s) => !reachable.includes(s))
      .map((s) => ({ amx: s, why: amxImpossible(k, era, config, abi, s)! })),
    arch_req_xcomp_perm: {
      result: perm.result,
      reason: perm.reason,
      ...(perm.enospcBelow === undefined ? {} : { enospc_below: perm.enospcBelow }),
    },
    glibc,
    musl,
    legacy: { MINSIGSTKSZ: K.MINSIGSTKSZ, SIGSTKSZ: K.SIGSTKSZ },
    hazards: processHazards(states, glibc, perm, era.overflowCheck, frameKinds[target.abi].abi, config),
    ...(hostAt
      ? {
          host: {
            kernel: hostAt.kernel,
            at_minsigstksz: hostAt.at_minsigstksz ?? null,
            matches: (hostAt.at_minsigstksz ?? null) === (at ?? null),
          },
        }
      : {}),
  };
  return report;
}

function stateHazards(s: AmxState, minimum: number, minAccepted: number, at: number | undefined): string[] {
  const out: string[] = [];
  const short = (name: string, v: number) =>
    v < minimum
      ? `${name} (${v}) is ${minimum - v} bytes short of the ${minimum} this thread needs`
      : undefined;
  for (const h of [short('MINSIGSTKSZ', K.MINSIGSTKSZ), short('SIGSTKSZ', K.SIGSTKSZ)]) if (h) out.push(h);
  if (s === 'permitted' && minAccepted > K.SIGSTKSZ) {
    out.push(
      `with AMX permission sigaltstack() rejects anything under ${minAccepted} bytes (ENOMEM), SIGSTKSZ included`,
    );
  }
  if (at !== undefined && at < minimum) {
    out.push(
      `AT_MINSIGSTKSZ (${at}) is less than this thread needs (${minimum}): a sigframe bug — please report`,
    );
  }
  return out;
}

function processHazards(
  states: readonly StateSizing[],
  glibc: LibcSigstksz,
  perm: PermRequest,
  check: KernelChoice['era']['overflowCheck'],
  abi: 'x86_64' | 'x32' | 'ia32',
  config: KernelConfig,
): string[] {
  const out: string[] = [];
  const none = states.find((s) => s.amx === 'none')!;
  if (glibc.sc_minsigstksz < K.MINSIGSTKSZ) {
    out.push(
      `glibc's sysconf(_SC_MINSIGSTKSZ) = ${glibc.sc_minsigstksz} is below MINSIGSTKSZ: sigaltstack() with that size fails with ENOMEM`,
    );
  }
  if (glibc.sc_minsigstksz < none.allocate.minimum) {
    out.push(
      `glibc's sysconf(_SC_MINSIGSTKSZ) = ${glibc.sc_minsigstksz} (${glibc.basis}) is ${none.allocate.minimum - glibc.sc_minsigstksz} bytes short of the ${none.allocate.minimum} a frame needs`,
    );
  }
  const c = config.bits === 64 && abi === 'ia32' ? check.compat : check.native;
  if (c !== 'entering') {
    out.push(
      c === 'none'
        ? 'this kernel never checks ia32 frames against the alt stack: a too-small alt stack is silently overrun (the memory below ss_sp is overwritten)'
        : 'this kernel checks the alt stack only for nested signals: the first signal on a too-small alt stack silently overwrites the memory below ss_sp',
    );
  }
  if (perm.result === 0 && perm.enospcBelow !== undefined) {
    out.push(
      `ARCH_REQ_XCOMP_PERM fails with ENOSPC while any thread has an alt stack under ${perm.enospcBelow} bytes; request AMX permission before creating small alt stacks, or size them all for AMX`,
    );
  }
  return out;
}
