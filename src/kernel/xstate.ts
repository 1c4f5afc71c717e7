import { dataModels } from '../../layouts/abi.js';
import { type CpuidFieldId, cpuidDeps } from '../../layouts/cpuid.js';
import { fregs_state } from '../../layouts/frames.js';
import type { KernelEra } from '../../layouts/kernels.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import type { Cpuid } from '../cpuid/records.js';
import { sizeOf } from '../schema/layout.js';
import { bit, bitsOf, FXSAVE_SIZE, has, xfeature } from '../xsave/catalog.js';
import type { XsaveEnumeration } from '../xsave/enumeration.js';
import { xstateSize } from '../xsave/layout.js';

/** The kernel build: 64-bit (with or without IA32 emulation) or an i386 kernel. */
export interface KernelConfig {
  readonly bits: 64 | 32;
  /** CONFIG_IA32_EMULATION (64-bit kernels; default on, as in every distribution kernel). */
  readonly ia32Emulation?: boolean;
  /**
   * CONFIG_STRICT_SIGALTSTACK_SIZE (default off). The `strict_sas_size=` boot option meant to set it
   * is refused by the kernel as an unknown parameter (see src/host/system.ts).
   */
  readonly strictSasSize?: boolean;
}

/** Whether the kernel can run 32-bit (ia32) processes: an i386 kernel or IA32_EMULATION. */
export function hasIa32(config: KernelConfig): boolean {
  return config.bits === 32 || config.ia32Emulation !== false;
}

export interface DroppedFeature {
  readonly nr: number;
  readonly reason: string;
}

/**
 * The user xfeatures the kernel enables on a CPU: fpu__init_system_xstate()
 * (arch/x86/kernel/fpu/xstate.c, Linux 7.3.4; era differences from layouts/kernels.ts).
 * Supervisor components (IA32_XSS) never reach a signal frame and are not modelled here.
 */
export interface KernelXfeatures {
  /** XSAVE in use at all; when false the kernel falls back to FXSAVE/FSAVE and XCR0 stays 0. */
  readonly xsave: boolean;
  /** FXSAVE/FXRSTOR in use (use_fxsr()): 32-bit frames then carry an FSAVE header before the image. */
  readonly fxsr: boolean;
  /**
   * The kernel keeps its own copy of the state in the compacted format (XSAVES/XRSTORS), which
   * it does whenever the CPU has XSAVES: what XRSTORS makes of MXCSR differs (ia32 restores).
   */
  readonly xsaves: boolean;
  /** The CPU's XRSTOR accepts a compacted image (XCOMP_BV bit 63): CPUID.(0xD,1):EAX.XSAVEC. */
  readonly xsavec: boolean;
  readonly xsaveDisabledBecause?: string;
  /** fpu_user_cfg.max_features — the value written to XCR0. */
  readonly xcr0: bigint;
  /** fpu_user_cfg.default_features — XCR0 without the dynamic (permission-gated) components. */
  readonly userDefault: bigint;
  /** Supported XCR0 components the kernel leaves out, with why. */
  readonly dropped: readonly DroppedFeature[];
  /**
   * fpu_user_cfg.max_size: CPUID.(0xD,0).EBX once XCR0 is set — the standard size of `xcr0`.
   * Without XSAVE, the legacy image: 512 (FXSAVE) or 112 (FNSAVE, struct fregs_state).
   */
  readonly maxSize: number;
  /** fpu_user_cfg.default_size: standard size of `userDefault`. */
  readonly defaultSize: number;
}

/**
 * CPU flags after the kernel's dependency pass (arch/x86/kernel/cpu/cpuid-deps.c): a flag whose
 * prerequisite is missing is cleared, repeatedly, until nothing changes.
 */
export function effectiveFlags(cpuid: Cpuid): (id: CpuidFieldId) => boolean {
  const cleared = new Set<CpuidFieldId>();
  const get = (id: CpuidFieldId) => !cleared.has(id) && cpuid.flag(id);
  let changed = true;
  while (changed) {
    changed = false;
    for (const [feature, needs] of cpuidDeps) {
      if (get(feature) && !get(needs)) {
        cleared.add(feature);
        changed = true;
      }
    }
  }
  return get;
}

export function kernelXfeatures(
  cpuid: Cpuid,
  e: XsaveEnumeration,
  era: KernelEra,
  config: KernelConfig,
  opts: { sizes: boolean } = { sizes: true },
): KernelXfeatures {
  const flag = effectiveFlags(cpuid);
  const fxsr = flag('fxsr');
  // fpu__init_system_xstate() failing leaves the sizes fpu__init_system_xstate_size_legacy() set.
  const legacySize = fxsr ? FXSAVE_SIZE : sizeOf(fregs_state, dataModels.lp64);
  const disabled = (why: string): KernelXfeatures => ({
    xsave: false,
    fxsr,
    xsaves: false,
    xsavec: false,
    xsaveDisabledBecause: why,
    xcr0: 0n,
    userDefault: 0n,
    dropped: [],
    maxSize: legacySize,
    defaultSize: legacySize,
  });
  if (!flag('fpu')) return disabled('no FPU');
  if (!flag('xsave')) return disabled('CPUID.1:ECX.XSAVE is clear: the kernel uses FXSAVE/FSAVE');
  const supported = e.xcr0Supported | e.xssSupported;
  if ((supported & XFEATURE_MASK.FPSSE) !== XFEATURE_MASK.FPSSE)
    return disabled('FP/SSE not present amongst the CPU’s xstate features');
  if (era.apxMpxConflict && has(supported, XFEATURE.APX) && (supported & XFEATURE_MASK.MPX) !== 0n) {
    return disabled('CPUID enumerates both APX and MPX, which would share the standard-format area at 960');
  }

  const dropReason = (nr: number): string | undefined => {
    const spec = xfeature(nr);
    if (!spec || spec.gate === null) return 'never enabled by Linux';
    if (!flag(spec.gate)) return `CPUID flag ${spec.gate} is clear (after the kernel's cpuid-deps pass)`;
    if (!(era.userSupported as readonly number[]).includes(nr)) {
      return `not in XFEATURE_MASK_USER_SUPPORTED of ${era.label} kernels`;
    }
    if (config.bits === 32 && spec.kernel64Only) return `32-bit kernel: ${spec.kernel64Only}`;
    if ((era.userDynamic as readonly number[]).includes(nr) && !flag('xfd'))
      return 'dynamic feature needs XFD';
    return undefined;
  };

  let xcr0 = 0n;
  const dropped: DroppedFeature[] = [];
  for (const nr of bitsOf(e.xcr0Supported)) {
    const reason = dropReason(nr);
    if (reason) dropped.push({ nr, reason });
    else xcr0 |= bit(nr);
  }
  let userDefault = xcr0;
  for (const nr of era.userDynamic) userDefault &= ~bit(nr);
  return {
    xsave: true,
    fxsr,
    xsaves: flag('xsaves'),
    xsavec: flag('xsavec'),
    xcr0,
    userDefault,
    dropped,
    maxSize: opts.sizes ? xstateSize(e, xcr0, 'standard') : 0,
    defaultSize: opts.sizes ? xstateSize(e, userDefault, 'standard') : 0,
  };
}
