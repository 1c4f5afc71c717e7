import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { libcReleases } from '../../layouts/libc.js';
import { XFEATURE } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import type { KernelChoice } from '../kernel/eras.js';
import { fpstateSize, xstateSigframeSize } from '../kernel/fpu_signal.js';
import {
  atMinsigstksz,
  MAX_FRAME_PADDING,
  MAX_XSAVE_PADDING,
  maxFrameSiginfoUctxtSize,
  minAltstack,
  overflowCheck,
  type PermRequest,
  requestXcompPerm,
} from '../kernel/signal.js';
import { systemTarget } from '../kernel/system.js';
import {
  type AmxState,
  amxImpossible,
  amxStates,
  possibleAmxStates,
  type TaskFpu,
  taskFpu,
} from '../kernel/task.js';
import { hasIa32, type KernelConfig, type KernelXfeatures } from '../kernel/xstate.js';
import {
  type LibcChoice,
  type LibcRow,
  libcChoiceLabel,
  libcRow,
  libcRows,
  newestLibcRelease,
} from '../libc/sysconf.js';
import type { Profile, ProfileOrigin } from '../profile/profile.js';
import { InputError } from '../schema/errors.js';
import { evaluateHazards, type Hazard } from './hazards.js';

/**
 * `sigframe size`: how big an alt stack must be, for one CPU, kernel, ABI and AMX state, with
 * the kernel's and the C libraries' own numbers beside it. Keys are the kernel's and glibc's
 * terms in snake_case; the four sizes are defined once in terms.ts.
 */
export interface SizeTarget {
  /** The handler's frame kind (`--abi`): x86_64, x32, ia32 or ia32-rt. */
  readonly kind: FrameKindName;
  /** The alt stack's top is a multiple of this (a power of two; 1 = anywhere). */
  readonly topAlign: number;
  readonly config: KernelConfig;
}

export interface FrameSizing {
  readonly kind: FrameKindName;
  readonly struct: string;
  /** xstate_sigframe_size(): the task's XSAVE image plus MAGIC2. */
  readonly xstate_sigframe_size: number;
  /** The footprint: bytes from the alt stack's top down to the frame, for the worst aligned top. */
  readonly bytes_below_top: number;
  /** The same for the worst top address of all. */
  readonly bytes_below_worst_top: number;
}

export interface StateSizing {
  readonly amx: AmxState;
  readonly user_size: number;
  readonly user_xfeatures: bigint;
  readonly frame: FrameSizing;
  /** Smallest ss_size on which the kernel delivers: the frame fits and sigaltstack() accepts it. */
  readonly min_altstack: number;
  readonly min_altstack_worst: number;
  readonly sigaltstack: { readonly min_accepted: number; readonly rule: string };
  /** The least a runtime must allocate for this thread's alt stack, before its handler's own use. */
  readonly allocate: { readonly minimum: number; readonly why: string };
  readonly hazards: readonly Hazard[];
}

/** The most any frame kind and AMX state on this kernel needs, and whether a run-time value covers it. */
export interface Coverage {
  /** What a program would size by: AT_MINSIGSTKSZ, or the C library's value before 5.14. */
  readonly by: string;
  readonly value: number | null;
  readonly largest_frame: { readonly kind: FrameKindName; readonly amx: AmxState; readonly fits: number };
  readonly largest_min_altstack: {
    readonly kind: FrameKindName;
    readonly amx: AmxState;
    readonly value: number;
  };
  /** `value` holds every frame / is also accepted by sigaltstack() for every frame. */
  readonly frames: boolean | null;
  readonly delivery: boolean | null;
  readonly summary: string;
}

/** Whether the running kernel is what this report describes, so that live numbers can be compared. */
export type LiveTarget =
  | { readonly applies: true; readonly kernel: string; readonly at_minsigstksz: number | undefined }
  | { readonly applies: false; readonly why: string };

export interface SizeReport {
  readonly profile: string;
  /** `host`: measured on this machine; `shipped`/`file`: a recording, never compared with this machine. */
  readonly origin: ProfileOrigin;
  readonly title: string;
  /** What the machine a profile was recorded on reported, for people; nothing is checked against it. */
  readonly recorded: {
    readonly kernel: string;
    readonly at_minsigstksz: number | null;
    readonly basis: string;
  } | null;
  readonly kernel: string;
  readonly era: string;
  readonly kernel_bits: 64 | 32;
  readonly ia32_emulation: boolean;
  readonly strict_sas_size: boolean;
  /** When get_sigframe() catches a frame that leaves the alt stack, for this ABI's frames. */
  readonly overflow_check: 'none' | 'nested' | 'entering';
  readonly frame_kind: FrameKindName;
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
  readonly min_altstack: number;
  readonly min_altstack_worst: number;
  readonly sigaltstack: StateSizing['sigaltstack'];
  readonly allocate: StateSizing['allocate'];
  readonly states: readonly StateSizing[];
  readonly impossible_states: readonly { readonly amx: AmxState; readonly why: string }[];
  readonly coverage: Coverage;
  readonly arch_req_xcomp_perm: {
    readonly result: PermRequest['result'];
    readonly reason: string;
    readonly enospc_below?: number;
  };
  /** One row per C library release range, for the selected AMX state's sigaltstack() rule. */
  readonly libc: readonly LibcRow[];
  /** The row the headline and the hazards use (`--libc`). */
  readonly libc_selected: { readonly index: number; readonly label: string };
  readonly legacy: { readonly MINSIGSTKSZ: number; readonly SIGSTKSZ: number };
  readonly hazards: readonly Hazard[];
  readonly live: LiveReport | null;
}

export type LiveReport =
  | {
      readonly applies: true;
      readonly kernel: string;
      readonly at_minsigstksz: number | null;
      readonly matches: boolean;
    }
  | { readonly applies: false; readonly why: string };

/** Refuses ABI, kernel and alignment combinations no kernel can run, with what would have to change. */
export function checkTargetConfig(target: SizeTarget): void {
  const kind = frameKinds[target.kind];
  const c = target.config;
  if (c.bits === 32 && kind.abi !== 'ia32') {
    throw new InputError(`an i386 kernel runs only ia32 programs, not ${target.kind}`, { path: 'abi' });
  }
  if (kind.abi === 'ia32' && !hasIa32(c)) {
    throw new InputError(
      `${target.kind} frames need IA32_EMULATION, which this kernel configuration lacks (--ia32-emulation off)`,
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

/** The frame kinds a kernel of this configuration delivers. */
function kernelFrameKinds(config: KernelConfig): FrameKindName[] {
  return (Object.keys(frameKinds) as FrameKindName[]).filter((kind) => {
    const abi = frameKinds[kind].abi;
    return config.bits === 32 ? abi === 'ia32' : abi !== 'ia32' || hasIa32(config);
  });
}

interface Sized {
  readonly frame: FrameSizing;
  readonly minAltstack: number;
  readonly minAltstackWorst: number;
  readonly sigaltstack: { readonly min_accepted: number; readonly rule: string };
}

function sized(
  kindName: FrameKindName,
  task: TaskFpu,
  k: KernelXfeatures,
  era: KernelChoice['era'],
  t: SizeTarget,
): Sized {
  const kind = frameKinds[kindName];
  const aligned = minAltstack(kind, t.topAlign, task, k, era, t.config);
  const any = minAltstack(kind, 1, task, k, era, t.config);
  return {
    frame: {
      kind: kindName,
      struct: kind.struct.name,
      xstate_sigframe_size: xstateSigframeSize(task.userSize, k),
      bytes_below_top: aligned.fit.bytesBelowTop,
      bytes_below_worst_top: any.fit.bytesBelowTop,
    },
    minAltstack: aligned.minAltstack,
    minAltstackWorst: any.minAltstack,
    sigaltstack: { min_accepted: aligned.sigaltstack.minAccepted, rule: aligned.sigaltstack.rule },
  };
}

/** The figures `size --all` shows for one profile and kernel era (one row per AMX state). */
export interface SizeSummary {
  readonly max_size: number;
  readonly at_minsigstksz: number | null;
  readonly states: readonly {
    readonly amx: AmxState;
    readonly user_size: number;
    readonly bytes_below_top: number;
    readonly min_altstack: number;
    readonly min_altstack_worst: number;
    readonly sigaltstack_min_accepted: number;
    /** The newest glibc's _SC_SIGSTKSZ (with AMX none's sigaltstack minimum, as sizeReport). */
    readonly glibc_sc_sigstksz: number | null;
  }[];
}

/**
 * sizeReport()'s numbers without the rest of the report (hazards, C library table, texts): the
 * same kernel functions, for sizing a fleet of profiles, where the full report costs 30× more.
 */
export function sizeSummary(profile: Profile, kernel: KernelChoice, target: SizeTarget): SizeSummary {
  const { config } = target;
  const era = kernel.era;
  const { k } = systemTarget(profile, kernel, config);
  checkTarget(k, target);
  const abi = frameKinds[target.kind].abi;
  const at = atMinsigstksz(k, era, config);
  const rows = possibleAmxStates(k, era, config, abi).map((amx) => {
    const task = taskFpu(k, era, config, abi, amx);
    const z = sized(target.kind, task, k, era, target);
    return { amx, user_size: task.userSize, z };
  });
  const none = rows.find((r) => r.amx === 'none')!.z.sigaltstack.min_accepted;
  const glibc = libcRow(newestLibcRelease('glibc'), at, k, abi, none).sc_sigstksz;
  return {
    max_size: k.maxSize,
    at_minsigstksz: at ?? null,
    states: rows.map(({ amx, user_size, z }) => ({
      amx,
      user_size,
      bytes_below_top: z.frame.bytes_below_top,
      min_altstack: z.minAltstack,
      min_altstack_worst: z.minAltstackWorst,
      sigaltstack_min_accepted: z.sigaltstack.min_accepted,
      glibc_sc_sigstksz: glibc ?? null,
    })),
  };
}

/** The AMX states a thread in state `s` may still reach: with permission it may use AMX at any moment. */
function reachableFrom(s: AmxState, reachable: readonly AmxState[]): AmxState[] {
  return s === 'permitted' ? reachable.filter((x) => x !== 'none') : [s];
}

/**
 * Whether the value a program sizes by covers the kernel's part. AT_MINSIGSTKSZ speaks for every
 * frame kind of the kernel; a C library's value only for its own ABI (glibc estimates per ABI).
 */
function coverage(
  k: KernelXfeatures,
  era: KernelChoice['era'],
  t: SizeTarget,
  at: number | undefined,
  libc: LibcRow,
  libcLabel: string,
): Coverage {
  const abi = frameKinds[t.kind].abi;
  const kinds = kernelFrameKinds(t.config).filter((kind) => at !== undefined || frameKinds[kind].abi === abi);
  let frame = { kind: t.kind, amx: 'none' as AmxState, fits: 0 };
  let alt = { kind: t.kind, amx: 'none' as AmxState, value: 0 };
  for (const kind of kinds) {
    const kabi = frameKinds[kind].abi;
    for (const s of possibleAmxStates(k, era, t.config, kabi)) {
      const z = sized(kind, taskFpu(k, era, t.config, kabi, s), k, era, t);
      if (z.frame.bytes_below_worst_top + 1 > frame.fits)
        frame = { kind, amx: s, fits: z.frame.bytes_below_worst_top + 1 };
      if (z.minAltstackWorst > alt.value) alt = { kind, amx: s, value: z.minAltstackWorst };
    }
  }
  const by = at !== undefined ? 'AT_MINSIGSTKSZ' : `${libcLabel} sysconf(_SC_MINSIGSTKSZ)`;
  const scope =
    at !== undefined ? 'every ABI and AMX state on this kernel' : `every ${abi} frame and AMX state`;
  const value = at ?? libc.sc_minsigstksz;
  const base = { by, value, largest_frame: frame, largest_min_altstack: alt };
  if (value === null) {
    return {
      ...base,
      frames: null,
      delivery: null,
      summary: `Linux ${era.label} gives no AT_MINSIGSTKSZ and ${libcLabel} has no _SC_MINSIGSTKSZ: nothing at run time tells a program how big a frame is (the largest ${abi} frame needs ${frame.fits} bytes, ${frame.kind} AMX ${frame.amx})`,
    };
  }
  const frames = value >= frame.fits;
  const delivery = value >= alt.value;
  const summary = delivery
    ? `${by} (${value}) covers the kernel's part for ${scope} (the most any needs: ${alt.value}, ${alt.kind} AMX ${alt.amx})`
    : frames
      ? `${by} (${value}) holds ${scope.replace('every', 'the frame of every')} (the largest needs ${frame.fits}, ${frame.kind} AMX ${frame.amx}), but sigaltstack() accepts nothing under ${alt.value}`
      : `${by} (${value}) is ${frame.fits - value} bytes short of the largest frame (${frame.kind} AMX ${frame.amx} needs ${frame.fits}) among ${scope}`;
  return { ...base, frames, delivery, summary };
}

export interface SizeOptions {
  /** The C library for the headline and hazards; default: the newest glibc. */
  readonly libc?: LibcChoice;
  /** Set for the host: whether the running kernel is the target, and what it said. */
  readonly live?: LiveTarget;
}

export function sizeReport(
  profile: Profile,
  kernel: KernelChoice,
  target: SizeTarget,
  selected: AmxState = 'none',
  opts: SizeOptions = {},
): SizeReport {
  const { config } = target;
  const era = kernel.era;
  const { k } = systemTarget(profile, kernel, config);
  checkTarget(k, target);
  const abi = frameKinds[target.kind].abi;
  const why = amxImpossible(k, era, config, abi, selected);
  if (why) throw new InputError(`--amx ${selected}: ${why}`, { path: 'amx' });

  const at = atMinsigstksz(k, era, config);
  const reachable = possibleAmxStates(k, era, config, abi);
  const tasks = new Map(reachable.map((s) => [s, taskFpu(k, era, config, abi, s)]));
  const sizes = new Map(reachable.map((s) => [s, sized(target.kind, tasks.get(s)!, k, era, target)]));

  const states = reachable.map((s) => {
    const task = tasks.get(s)!;
    const z = sizes.get(s)!;
    const later = reachableFrom(s, reachable);
    const worstState = later.reduce((m, x) =>
      sizes.get(x)!.minAltstackWorst > sizes.get(m)!.minAltstackWorst ? x : m,
    );
    const w = sizes.get(worstState)!;
    const minimum = w.minAltstackWorst;
    const whyMin =
      w.sigaltstack.min_accepted >= w.frame.bytes_below_worst_top + 1
        ? `sigaltstack() accepts nothing smaller: ${w.sigaltstack.rule}`
        : worstState !== s
          ? `the frame after this thread's first AMX use (${w.frame.bytes_below_worst_top} bytes below the worst top) must fit`
          : `the frame (${z.frame.bytes_below_top} bytes below a ${target.topAlign}-aligned top, ${z.frame.bytes_below_worst_top} below the worst top) must start above ss_sp`;
    return {
      amx: s,
      user_size: task.userSize,
      user_xfeatures: task.userXfeatures,
      frame: z.frame,
      min_altstack: z.minAltstack,
      min_altstack_worst: z.minAltstackWorst,
      sigaltstack: z.sigaltstack,
      allocate: { minimum, why: whyMin },
      hazards: [] as Hazard[],
    };
  });
  const chosenIndex = states.findIndex((s) => s.amx === selected);
  const chosen = states[chosenIndex]!;

  const libcChoice = opts.libc ?? {
    libc: 'glibc',
    version: undefined,
    release: newestLibcRelease('glibc'),
  };
  const libc = libcRows(at, k, abi, chosen.sigaltstack.min_accepted);
  const libcIndex = libcReleases.findIndex((r) => r === libcChoice.release);
  const libcLabel = libcChoiceLabel(libcChoice);

  const hdr = maxFrameSiginfoUctxtSize(config);
  const fsz = fpstateSize(k, config);
  const perm = requestXcompPerm(k, era, config, XFEATURE.XTILE_DATA);
  const check = overflowCheck(era, config, abi);
  const observed = profile.origin === 'host' ? undefined : profile.file.observed;
  const live = opts.live;
  const report = {
    profile: profile.name,
    origin: profile.origin,
    title: profile.file.title,
    recorded: observed
      ? { kernel: observed.kernel, at_minsigstksz: observed.at_minsigstksz ?? null, basis: observed.basis }
      : null,
    kernel: kernel.label,
    era: era.label,
    kernel_bits: config.bits,
    ia32_emulation: config.bits === 64 && hasIa32(config),
    strict_sas_size: config.strictSasSize === true,
    overflow_check: check,
    frame_kind: target.kind,
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
    min_altstack: chosen.min_altstack,
    min_altstack_worst: chosen.min_altstack_worst,
    sigaltstack: chosen.sigaltstack,
    allocate: chosen.allocate,
    states,
    impossible_states: amxStates
      .filter((s) => !reachable.includes(s))
      .map((s) => ({ amx: s, why: amxImpossible(k, era, config, abi, s)! })),
    coverage: coverage(k, era, target, at, libc[libcIndex]!, libcLabel),
    arch_req_xcomp_perm: {
      result: perm.result,
      reason: perm.reason,
      ...(perm.enospcBelow === undefined ? {} : { enospc_below: perm.enospcBelow }),
    },
    libc,
    libc_selected: { index: libcIndex, label: libcLabel },
    legacy: { MINSIGSTKSZ: K.MINSIGSTKSZ, SIGSTKSZ: K.SIGSTKSZ },
    hazards: [] as Hazard[],
    live: !live
      ? null
      : live.applies
        ? {
            applies: true as const,
            kernel: live.kernel,
            at_minsigstksz: live.at_minsigstksz ?? null,
            matches: (live.at_minsigstksz ?? null) === (at ?? null),
          }
        : { applies: false as const, why: live.why },
  };
  // Hazards read the finished numbers, so each one is a statement about this very report.
  for (const [i, s] of states.entries())
    s.hazards.push(...evaluateHazards(report, 'state', { i, libc: libcIndex }));
  report.hazards.push(...evaluateHazards(report, 'process', { libc: libcIndex }));
  return report;
}
