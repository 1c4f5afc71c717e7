import { frameKinds } from '../../layouts/frames.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import type { KernelChoice } from '../kernel/eras.js';
import { atMinsigstksz, frameFit } from '../kernel/signal.js';
import { systemTarget } from '../kernel/system.js';
import { type AmxState, possibleAmxStates, taskFpu } from '../kernel/task.js';
import type { KernelConfig, KernelXfeatures } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { bitsOf, FIRST_EXTENDED_XFEATURE, has, xfeatureName } from '../xsave/catalog.js';

/**
 * Whether state saved on one CPU (P1, `from`) restores correctly on another (P2, `to`), as an XSAVE
 * image, as a signal frame, or as a checkpointed process. Each rule is its own function with the
 * reason a person can act on; a report is incompatible when any finding is.
 *
 * Sources: the Intel SDM Vol. 1 §13.8 (XRSTOR reads each component at its CPUID offset and raises
 * #GP for XSTATE_BV bits outside XCR0); arch/x86/kernel/fpu/signal.c (frame checks); the CRIU,
 * rr and glibc reports collected in ../shared/reference/peers.md §3.3–3.4.
 */
export type CompatWhat = 'frame' | 'xsave-image' | 'checkpoint';

export type ComponentStatus = 'same' | 'moved' | 'missing-on-to' | 'only-on-to';

export interface ComponentCompat {
  readonly nr: number;
  readonly name: string;
  readonly from: { readonly offset: number; readonly size: number } | null;
  readonly to: { readonly offset: number; readonly size: number } | null;
  readonly status: ComponentStatus;
  /** What restoring P1's bytes on P2 does to this component. */
  readonly restore: 'ok' | 'garbage' | 'fault' | 'init';
  readonly reason: string;
}

export interface Finding {
  readonly level: 'incompatible' | 'hazard' | 'note';
  /** A short tag for matrices: moved, missing, fx-only, amx, glibc, altstack, magic2. */
  readonly code: string;
  readonly scope: 'component' | 'frame' | 'process';
  readonly message: string;
}

export interface CompatReport {
  readonly from: string;
  readonly to: string;
  readonly kernel: string;
  readonly what: CompatWhat;
  readonly amx: AmxState;
  readonly from_xcr0: bigint;
  readonly to_xcr0: bigint;
  readonly components: readonly ComponentCompat[];
  readonly findings: readonly Finding[];
  readonly compatible: boolean;
}

interface Side {
  readonly p: Profile;
  readonly k: KernelXfeatures;
}

function region(s: Side, nr: number) {
  const c = s.p.xsave.components.get(nr);
  return has(s.k.xcr0, nr) && c ? { offset: c.offset, size: c.size } : null;
}

/** Per component: the standard-format position on each side and what XRSTOR on P2 makes of it. */
export function componentCompat(a: Side, b: Side, what: CompatWhat): ComponentCompat[] {
  const nrs = bitsOf(a.k.xcr0 | b.k.xcr0).filter((n) => n >= FIRST_EXTENDED_XFEATURE);
  return nrs.map((nr) => {
    const from = region(a, nr);
    const to = region(b, nr);
    const name = xfeatureName(nr);
    if (from && to) {
      if (from.offset === to.offset && from.size === to.size) {
        return { nr, name, from, to, status: 'same', restore: 'ok', reason: 'same offset and size' };
      }
      // A checkpoint stores components separately (CRIU keeps one protobuf field each).
      const moved = `at ${from.offset} (${from.size} bytes) on ${a.p.name}, ${to.offset} (${to.size}) on ${b.p.name}`;
      return what === 'checkpoint'
        ? {
            nr,
            name,
            from,
            to,
            status: 'moved',
            restore: 'ok',
            reason: `${moved}: a per-component checkpoint relocates it`,
          }
        : {
            nr,
            name,
            from,
            to,
            status: 'moved',
            restore: 'garbage',
            reason: `${moved}: XRSTOR on ${b.p.name} reads other bytes — convert the image first`,
          };
    }
    if (from) {
      return {
        nr,
        name,
        from,
        to,
        status: 'missing-on-to',
        restore: 'fault',
        reason: `${b.p.name} has no ${name} (not in its XCR0): an image with it in use faults in XRSTOR (#GP, SIGSEGV for a frame), and code using its registers gets SIGILL`,
      };
    }
    return {
      nr,
      name,
      from,
      to,
      status: 'only-on-to',
      restore: 'init',
      reason: `only ${b.p.name} has ${name}: it starts in its initial state`,
    };
  });
}

/** The frame rules: what rt_sigreturn on P2 does with a frame P1's kernel wrote for a task. */
export function frameFindings(
  a: Side,
  b: Side,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): Finding[] {
  const out: Finding[] = [];
  const era = kernel.era;
  const ta = taskFpu(a.k, era, config, 'x86_64', amx);
  const toStates = possibleAmxStates(b.k, era, config, 'x86_64');
  const tb = taskFpu(b.k, era, config, 'x86_64', toStates.includes(amx) ? amx : 'none');
  if (!toStates.includes(amx)) {
    out.push({
      level: 'incompatible',
      code: 'amx',
      scope: 'frame',
      message: `AMX state '${amx}' is impossible on ${b.p.name}: the restored task has no AMX (tile state is lost; tile instructions raise SIGILL)`,
    });
  }
  if (ta.userSize > tb.userSize) {
    out.push({
      level: 'incompatible',
      code: 'fx-only',
      scope: 'frame',
      message: `the frame's sw_reserved.xstate_size ${ta.userSize} exceeds the destination task's user_size ${tb.userSize}: sigreturn falls back to fx-only and every AVX and later register is reset`,
    });
  } else if (ta.userSize < tb.userSize) {
    out.push({
      level: 'hazard',
      code: 'magic2',
      scope: 'frame',
      message: `the frame (xstate_size ${ta.userSize}) is smaller than the destination task's user_size ${tb.userSize}: fine for kernels that look for MAGIC2 at the frame's own xstate_size; the 2026 "refine magic number check" change (reverted, 44eeff9bc467) looked at the destination's size and restored such frames fx-only`,
    });
  }
  const lost = ta.userXfeatures & ~tb.userXfeatures & ~XFEATURE_MASK.FPSSE;
  if (lost !== 0n) {
    out.push({
      level: 'incompatible',
      code: 'missing',
      scope: 'frame',
      message: `components ${bitsOf(lost).map(xfeatureName).join(', ')} of the frame are not the destination task's: with their XSTATE_BV bits set XRSTOR faults (SIGSEGV)`,
    });
  }
  return out;
}

/** The process rules for checkpoint/restore and migration. */
export function processFindings(a: Side, b: Side, kernel: KernelChoice, config: KernelConfig): Finding[] {
  const out: Finding[] = [];
  if (b.k.maxSize > a.k.maxSize) {
    out.push({
      level: 'incompatible',
      code: 'glibc',
      scope: 'process',
      message: `glibc sized its XSAVE buffer for lazy binding at start-up from CPUID.(0xD,0).EBX = ${a.k.maxSize} on ${a.p.name}; on ${b.p.name} XSAVE writes up to ${b.k.maxSize} bytes — the restored process corrupts its stack (CRIU #3120)`,
    });
  }
  const era = kernel.era;
  const amxFrom = possibleAmxStates(a.k, era, config, 'x86_64').includes('used');
  const amxTo = possibleAmxStates(b.k, era, config, 'x86_64').includes('used');
  if (amxFrom && !amxTo) {
    out.push({
      level: 'hazard',
      code: 'amx',
      scope: 'process',
      message: `${a.p.name} offers AMX and ${b.p.name} does not: a process that requested AMX permission cannot be restored with it (ARCH_REQ_XCOMP_PERM → EOPNOTSUPP, tile instructions → SIGILL)`,
    });
  } else if (amxFrom && amxTo) {
    out.push({
      level: 'note',
      code: 'amx',
      scope: 'process',
      message:
        'AMX permission is per process and not part of the XSAVE state: the restorer must request it again (ARCH_REQ_XCOMP_PERM) before restoring tile state',
    });
  }
  const atFrom = atMinsigstksz(a.k, era, config);
  if (atFrom !== undefined) {
    const none = taskFpu(b.k, era, config, 'x86_64', 'none');
    const need = frameFit(frameKinds.x86_64, 1, none, b.k, config).fits;
    if (need > atFrom) {
      out.push({
        level: 'incompatible',
        code: 'altstack',
        scope: 'process',
        message: `alt stacks sized on ${a.p.name} from AT_MINSIGSTKSZ (${atFrom}) are too small for ${b.p.name}'s frames (they fit only in ${need} bytes or more): signals on them raise SIGSEGV`,
      });
    }
  }
  return out;
}

export function compat(
  from: Profile,
  to: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  what: CompatWhat = 'frame',
  amx: AmxState = 'none',
): CompatReport {
  const a: Side = { p: from, k: systemTarget(from, kernel, config).k };
  const b: Side = { p: to, k: systemTarget(to, kernel, config).k };
  const components = componentCompat(a, b, what);
  const findings: Finding[] = components
    .filter((c) => c.restore === 'garbage' || c.restore === 'fault')
    .map((c) => ({
      level: 'incompatible' as const,
      code: c.restore === 'garbage' ? 'moved' : 'missing',
      scope: 'component' as const,
      message: `${c.name}: ${c.reason}`,
    }));
  if (what === 'frame') findings.push(...frameFindings(a, b, kernel, config, amx));
  if (what === 'checkpoint') findings.push(...processFindings(a, b, kernel, config));
  return {
    from: from.name,
    to: to.name,
    kernel: kernel.label,
    what,
    amx,
    from_xcr0: a.k.xcr0,
    to_xcr0: b.k.xcr0,
    components,
    findings,
    compatible: !findings.some((f) => f.level === 'incompatible'),
  };
}

/** compat() over every pair of profiles: the matrix `sigframe compat --matrix` prints. */
export function compatMatrix(
  profiles: readonly Profile[],
  kernel: KernelChoice,
  config: KernelConfig,
  what: CompatWhat,
  amx: AmxState = 'none',
): { from: string; to: string; compatible: boolean; codes: string[] }[] {
  return profiles.flatMap((a) =>
    profiles.map((b) => {
      const r = compat(a, b, kernel, config, what, amx);
      const codes = [...new Set(r.findings.filter((f) => f.level === 'incompatible').map((f) => f.code))];
      return { from: a.name, to: b.name, compatible: r.compatible, codes };
    }),
  );
}
