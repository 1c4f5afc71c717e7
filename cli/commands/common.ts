import type { Options } from 'yargs';

/** Options several commands share, declared once. */
export const profileOption = {
  type: 'string',
  default: 'host',
  describe:
    'CPU: a shipped profile name (see `sigframe profiles`), a profile or raw CPUID dump file, or "host"',
} as const satisfies Options;

export const kernelOption = {
  type: 'string',
  describe:
    'kernel version, e.g. 6.1 or 6.18.44 (default: the running kernel for the host, else the newest era)',
} as const satisfies Options;

export const kernelBitsOption = {
  choices: [64, 32] as const,
  default: 64 as const,
  describe: 'the kernel is 64-bit, or an i386 kernel',
} as const satisfies Options;

export interface GlobalArgs {
  readonly json?: boolean;
}

/** Loads the profile a command asked for, with the kernel version to reason about. */
export async function selectTarget(profileSpec: string, kernelArg: string | undefined) {
  const { loadProfile } = await import('../../src/profile/store.js');
  const { chooseKernel } = await import('../../src/kernel/eras.js');
  const profile = loadProfile(profileSpec);
  const hostKernel = profile.name === 'host' ? profile.file.observed?.kernel : undefined;
  return { profile, kernel: chooseKernel(kernelArg, hostKernel) };
}
