import type { KernelChoice } from '../kernel/eras.js';
import { type KernelConfig, kernelXfeatures } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { InputError } from '../schema/errors.js';
import { architecturalSize, has, xfeature } from '../xsave/catalog.js';
import type { Finding } from '../xsave/enumeration.js';

/**
 * `sigframe cpuid`: leaf 0xD decoded into components, with what Linux makes of it and, on the
 * host, whether the kernel agrees (XGETBV(0) against the model's XCR0).
 */
export interface CpuidReport {
  readonly profile: string;
  readonly title: string;
  readonly source: Profile['file']['source'];
  readonly vendor: string | undefined;
  readonly signature: { family: number; model: number; stepping: number } | undefined;
  readonly xcr0_supported: bigint;
  readonly xss_supported: bigint;
  readonly sizes: {
    readonly xsave_sz_xcr0: number | undefined;
    readonly xsave_sz_max: number | undefined;
    readonly xsave_sz_xcr0_xss: number | undefined;
  };
  readonly instructions: Profile['xsave']['instructions'];
  readonly components: readonly ComponentRow[];
  readonly missing: readonly number[];
  readonly unknown: readonly number[];
  readonly findings: readonly Finding[];
  readonly linux: LinuxView;
  readonly host?: HostView;
}

export interface ComponentRow {
  readonly nr: number;
  readonly name: string;
  readonly dmesg: string | undefined;
  readonly in: 'xcr0' | 'xss';
  readonly kind: 'user' | 'supervisor' | 'unknown';
  readonly size: number;
  readonly offset: number | null;
  readonly aligned64: boolean;
  readonly xfd_faulting: boolean;
  readonly dynamic: boolean;
  readonly architectural_size: number | null;
  readonly gate: string | null;
  readonly linux_enables: boolean;
}

export interface LinuxView {
  readonly kernel: string;
  readonly era: string;
  readonly kernel_bits: 64 | 32;
  readonly xsave: boolean;
  readonly xsave_disabled_because?: string;
  readonly xcr0: bigint;
  readonly user_default: bigint;
  /** null when the CPUID input lacks a subleaf the sizes need (see size_unknown_because). */
  readonly max_size: number | null;
  readonly default_size: number | null;
  readonly size_unknown_because?: string;
  readonly dropped: readonly { nr: number; name: string; reason: string }[];
}

export interface HostView {
  readonly xcr0: bigint | undefined;
  readonly xinuse: bigint | undefined;
  readonly xcomp_supp: bigint | undefined;
  readonly model_matches: boolean;
}

export function linuxView(profile: Profile, kernel: KernelChoice, config: KernelConfig): LinuxView {
  let k: ReturnType<typeof kernelXfeatures>;
  try {
    k = kernelXfeatures(profile.cpuid, profile.xsave, kernel.era, config);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    const partial = kernelXfeatures(profile.cpuid, profile.xsave, kernel.era, config, { sizes: false });
    return {
      ...view(partial, kernel, config),
      max_size: null,
      default_size: null,
      size_unknown_because: e.message,
    };
  }
  return view(k, kernel, config);
}

function view(k: ReturnType<typeof kernelXfeatures>, kernel: KernelChoice, config: KernelConfig): LinuxView {
  return {
    kernel: kernel.label,
    era: kernel.era.label,
    kernel_bits: config.bits,
    xsave: k.xsave,
    ...(k.xsaveDisabledBecause ? { xsave_disabled_because: k.xsaveDisabledBecause } : {}),
    xcr0: k.xcr0,
    user_default: k.userDefault,
    max_size: k.maxSize,
    default_size: k.defaultSize,
    dropped: k.dropped.map((d) => ({
      nr: d.nr,
      name: xfeature(d.nr)?.name ?? `bit${d.nr}`,
      reason: d.reason,
    })),
  };
}

/** What the running machine itself said (XGETBV and ARCH_GET_XCOMP_SUPP), for the host profile. */
export interface HostXstate {
  readonly xcr0: bigint | undefined;
  readonly xinuse: bigint | undefined;
  readonly xcompSupp: bigint | undefined;
}

export function cpuidReport(
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  host?: HostXstate,
): CpuidReport {
  const e = profile.xsave;
  const linux = linuxView(profile, kernel, config);
  const components: ComponentRow[] = [...e.components.values()]
    .sort((a, b) => a.nr - b.nr)
    .map((c) => ({
      nr: c.nr,
      name: c.name,
      dmesg: c.spec?.dmesg,
      in: c.in,
      kind: c.spec ? c.spec.kind : 'unknown',
      size: c.size,
      offset: c.supervisor ? null : c.offset,
      aligned64: c.aligned64,
      xfd_faulting: c.xfdFaulting,
      dynamic: !!c.spec && 'dynamic' in c.spec,
      architectural_size: c.spec ? architecturalSize(c.spec) : null,
      gate: c.spec?.gate ?? null,
      linux_enables: has(linux.xcr0, c.nr),
    }));
  const report: CpuidReport = {
    profile: profile.name,
    title: profile.file.title,
    source: profile.file.source,
    vendor: profile.cpuid.vendor(),
    signature: profile.cpuid.signature(),
    xcr0_supported: e.xcr0Supported,
    xss_supported: e.xssSupported,
    sizes: { xsave_sz_xcr0: e.sizeXcr0, xsave_sz_max: e.sizeMax, xsave_sz_xcr0_xss: e.sizeXcr0Xss },
    instructions: e.instructions,
    components,
    missing: e.missing,
    unknown: e.unknown,
    findings: e.findings,
    linux,
  };
  if (!host) return report;
  return {
    ...report,
    host: {
      xcr0: host.xcr0,
      xinuse: host.xinuse,
      xcomp_supp: host.xcompSupp,
      model_matches: host.xcr0 === linux.xcr0,
    },
  };
}
