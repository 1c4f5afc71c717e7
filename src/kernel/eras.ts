import { type KernelEra, kernelEras, type VersionedRule } from '../../layouts/kernels.js';
import { InputError } from '../schema/errors.js';
import { memo } from '../schema/memo.js';

export type KernelVersion = readonly [number, number, number];

/**
 * Parses `6.18`, `6.18.44` or a `uname -r` string such as `6.18.44-fc-v669`, `6.19-rc6` or
 * `6.12.38+deb13-amd64`: MAJOR.MINOR[.PATCH], then nothing or a suffix that starts with `-`, `+`,
 * `_` or `~`. Anything else is refused, not cut short: `6.18.44.7` is not 6.18.44. The one
 * exception is a uname -r of WSL2, `5.15.153.1-microsoft-standard-WSL2`: a fourth number with a
 * suffix after it is Microsoft's build number, and the kernel is 5.15.153.
 */
export function parseKernelVersion(text: string): KernelVersion {
  const m = /^\s*(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6})(?:\.\d{1,6}(?=-))?)?(?:[-+_~][\x21-\x7e]*)?\s*$/.exec(
    text,
  );
  if (!m) {
    const parts = /^\s*\d+(?:\.\d+){3,}/.exec(text);
    throw new InputError(
      `kernel version '${text}': ${parts ? `${parts[0].trim().split('.').length} numeric parts; ` : ''}expected MAJOR.MINOR[.PATCH], optionally with a suffix as uname -r prints (e.g. 6.18, 6.18.44, 6.19-rc6, 6.18.44-generic)`,
      { path: 'kernel' },
    );
  }
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

export function compareVersions(a: KernelVersion, b: KernelVersion): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

export function formatVersion(v: KernelVersion): string {
  return `${v[0]}.${v[1]}${v[2] ? `.${v[2]}` : ''}`;
}

/** The era a kernel version belongs to: the newest whose `since` it reaches. */
export function eraFor(version: string | KernelVersion): KernelEra {
  const v = typeof version === 'string' ? parseKernelVersion(version) : version;
  let found: KernelEra | undefined;
  for (const era of kernelEras) {
    if (compareVersions(v, parseKernelVersion(era.since)) >= 0) found = era;
  }
  if (!found) {
    throw new InputError(
      `kernel ${formatVersion(v)} is older than the oldest modelled era (${kernelEras[0].since}); eras: ${kernelEras
        .map((e) => e.label)
        .join(', ')}`,
      { path: 'kernel' },
    );
  }
  return found;
}

export function latestEra(): KernelEra {
  return kernelEras[kernelEras.length - 1]!;
}

/** The kernel a command reasons about: an explicit version, the host's, or the newest era. */
export interface KernelChoice {
  readonly version: KernelVersion | undefined;
  readonly era: KernelEra;
  /** For people: `6.18.44` or `6.16 and later`. */
  readonly label: string;
}

export function chooseKernel(explicit?: string, fallback?: string): KernelChoice {
  const text = explicit ?? fallback;
  if (text === undefined) {
    const era = latestEra();
    return { version: undefined, era, label: `Linux ${era.label}` };
  }
  const version = parseKernelVersion(text);
  return { version, era: eraFor(version), label: `Linux ${formatVersion(version)}` };
}

/**
 * The value a version-ranged rule (layouts/kernels.ts) has on a kernel, and why; an unspecified
 * kernel is taken to be current and gets the rule's `otherwise`.
 */
export function ruleAt<V extends string>(
  rule: VersionedRule<V>,
  kernel: KernelChoice,
): { value: V; why?: string } {
  const v = kernel.version;
  if (v === undefined) return { value: rule.otherwise };
  for (const r of parsedRanges(rule)) {
    if (compareVersions(v, r.from) >= 0 && compareVersions(v, r.before) < 0)
      return { value: r.value, why: r.why };
  }
  return { value: rule.otherwise };
}

const parsedRanges = memo(<V extends string>(rule: VersionedRule<V>) =>
  rule.ranges.map((r) => ({ ...r, from: parseKernelVersion(r.from), before: parseKernelVersion(r.before) })),
);
