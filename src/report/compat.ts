import { frameKinds } from '../../layouts/frames.js';
import { magicCheckRule } from '../../layouts/kernels.js';
import { buildFrame } from '../frame/build.js';
import { decodeFrame } from '../frame/decode.js';
import { sampleState } from '../frame/sample.js';
import type { Verdict } from '../frame/sigreturn.js';
import { frameTarget } from '../frame/target.js';
import { chooseKernel, type KernelChoice, ruleAt } from '../kernel/eras.js';
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

/**
 * P1's frame for a task in `amx` state — every component of the task in use — handed to P2's
 * kernel: the sigreturn model's verdict on it (src/frame/sigreturn.ts), the same one `decode`
 * gives, for a task on P2 in the same AMX state where P2 has it.
 */
export function frameVerdict(
  from: Profile,
  to: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): Verdict {
  const t1 = frameTarget('x86_64', from, kernel, config, amx);
  const built = buildFrame(sampleState(t1, from.name), t1);
  const k2 = systemTarget(to, kernel, config).k;
  const amxTo = possibleAmxStates(k2, kernel.era, config, 'x86_64').includes(amx) ? amx : 'none';
  // Above the frame lies more of the stack: readable, and holding no MAGIC2 (a kernel that looks
  // for it past the frame's end reads those bytes, it does not fault).
  const bytes = new Uint8Array(built.bytes.length + 0x10000);
  bytes.set(built.bytes);
  return decodeFrame({
    memory: { address: built.address, bytes },
    kind: 'x86_64',
    profile: to,
    kernel,
    config,
    amx: amxTo,
  }).verdict;
}

/**
 * A kernel of the same era whose check_xstate_in_sigframe() (layouts/kernels.ts magicCheckRule)
 * is the other one, to show a verdict that depends on which stable release P2 runs.
 */
function otherMagicRule(kernel: KernelChoice): { kernel: KernelChoice; ranges: string } | undefined {
  const here = ruleAt(magicCheckRule, kernel).value;
  const candidates = magicCheckRule.ranges.flatMap((r) => [r.from, r.before]);
  const v = candidates.find((c) => {
    const k = chooseKernel(c);
    return k.era.id === kernel.era.id && ruleAt(magicCheckRule, k).value !== here;
  });
  if (v === undefined) return undefined;
  const ranges = magicCheckRule.ranges.map((r) => `${r.from} ≤ v < ${r.before}`).join(', ');
  return {
    kernel: chooseKernel(v),
    ranges:
      here === 'frame'
        ? `the refined check_xstate_in_sigframe() (${ranges})`
        : `the full check_xstate_in_sigframe() (outside ${ranges})`,
  };
}

/** The frame rules: what rt_sigreturn on P2 does with a frame P1's kernel wrote for a task. */
export function frameFindings(
  a: Side,
  b: Side,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): { findings: Finding[]; verdict: Verdict } {
  const out: Finding[] = [];
  const toStates = possibleAmxStates(b.k, kernel.era, config, 'x86_64');
  if (!toStates.includes(amx)) {
    out.push({
      level: 'incompatible',
      code: 'amx',
      scope: 'frame',
      message: `AMX state '${amx}' is impossible on ${b.p.name}: the restored task has no AMX (tile state is lost; tile instructions raise SIGILL)`,
    });
  }
  const verdict = frameVerdict(a.p, b.p, kernel, config, amx);
  if (verdict.verdict !== 'full') {
    out.push({
      level: 'incompatible',
      code: verdict.verdict,
      scope: 'frame',
      message: `rt_sigreturn on ${b.p.name}: ${verdict.reason}`,
    });
  }
  const other = otherMagicRule(kernel);
  if (other) {
    const v2 = frameVerdict(a.p, b.p, other.kernel, config, amx);
    if (v2.verdict !== verdict.verdict) {
      out.push({
        level: 'hazard',
        code: 'magic2',
        scope: 'frame',
        message: `kernels with ${other.ranges} reach another verdict: ${v2.verdict} — ${v2.reason}`,
      });
    }
  }
  return { findings: out, verdict };
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
  const frame = what === 'frame' ? frameFindings(a, b, kernel, config, amx) : undefined;
  // A frame's components are what rt_sigreturn makes of them: with the image restored only
  // fx-only (or not at all) no XRSTOR reads them, and the frame verdict says why.
  const xrstorRuns = !frame || frame.verdict.verdict === 'full' || frame.verdict.verdict === 'partial';
  const lost: ComponentCompat['restore'] = frame?.verdict.verdict === 'sigsegv' ? 'fault' : 'init';
  const components = componentCompat(a, b, what).map((c) =>
    xrstorRuns || !c.from
      ? c
      : {
          ...c,
          restore: lost,
          reason: `rt_sigreturn on ${b.p.name} does not restore the frame's image (${frame!.verdict.verdict}; see the frame finding)`,
        },
  );
  const findings: Finding[] = components
    .filter((c) => xrstorRuns && (c.restore === 'garbage' || c.restore === 'fault'))
    .map((c) => ({
      level: 'incompatible' as const,
      code: c.restore === 'garbage' ? 'moved' : 'missing',
      scope: 'component' as const,
      message: `${c.name}: ${c.reason}`,
    }));
  if (frame) findings.push(...frame.findings);
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
