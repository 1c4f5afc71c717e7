import type { KernelChoice } from '../kernel/eras.js';
import type { KernelConfig } from '../kernel/xstate.js';
import { type SizeCheck, sizeChecks } from '../profile/checks.js';
import type { Profile } from '../profile/profile.js';
import { maskNames } from '../xsave/catalog.js';
import { type LinuxView, linuxView } from './cpuid.js';

/** `sigframe profiles`: each profile with what Linux enables on it and its self-consistency checks. */
export interface ProfileRow {
  readonly name: string;
  readonly title: string;
  readonly vendor: string | undefined;
  readonly synthetic: boolean;
  readonly source: string;
  readonly xcr0_supported: bigint;
  readonly linux: LinuxView;
  readonly components: string;
  readonly checks: readonly SizeCheck[];
  readonly errors: number;
  readonly warnings: number;
}

export function profileRow(p: Profile, kernel: KernelChoice, config: KernelConfig): ProfileRow {
  const linux = linuxView(p, kernel, config);
  return {
    name: p.name,
    title: p.file.title,
    vendor: p.cpuid.vendor(),
    synthetic: p.file.synthetic ?? false,
    source: p.file.source.kind,
    xcr0_supported: p.xsave.xcr0Supported,
    linux,
    components: maskNames(linux.xcr0),
    checks: sizeChecks(p),
    errors: p.xsave.findings.filter((f) => f.level === 'error').length,
    warnings: p.xsave.findings.filter((f) => f.level === 'warning').length,
  };
}
