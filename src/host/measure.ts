import type { KernelChoice } from '../kernel/eras.js';
import { systemTarget } from '../kernel/system.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { compareLibcWithKernel, compareWithKernel, type KernelCheck } from '../report/measure.js';
import { runAltstackExperiment } from './altstack.js';
import { muslSkipReason, runLibcExperiment } from './libc.js';
import { HostError } from './native.js';

/** `size --measure`: every experiment this machine can run, each compared with the model. */
export interface Measurement {
  readonly checks: readonly KernelCheck[];
  /** Experiments that could not run here, with the reason. */
  readonly skipped: readonly string[];
}

/**
 * Runs native/altstack.c (64-bit, and ia32 where 32-bit programs run) and native/libc.c (the
 * system glibc, and musl where musl-gcc exists) on the running system, and compares each answer
 * with the model of `profile` on `kernel` with `config` — the running system's own.
 */
export function measureRunningSystem(
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  ia32Runs: boolean,
): Measurement {
  const { k } = systemTarget(profile, kernel, config);
  const checks = compareWithKernel(runAltstackExperiment('x86_64'), k, kernel, config);
  const skipped: string[] = [];
  const optional = (what: string, body: () => KernelCheck[]) => {
    try {
      checks.push(...body());
    } catch (e) {
      if (!(e instanceof HostError)) throw e;
      skipped.push(`${what}: ${e.message.split('\n')[0]}`);
    }
  };
  if (ia32Runs) optional('ia32', () => compareWithKernel(runAltstackExperiment('ia32'), k, kernel, config));
  else skipped.push('ia32: 32-bit programs do not run on this kernel');
  optional('glibc', () => compareLibcWithKernel(runLibcExperiment('glibc'), k, kernel, config));
  const noMusl = muslSkipReason();
  if (noMusl) skipped.push(`musl: ${noMusl}`);
  else optional('musl', () => compareLibcWithKernel(runLibcExperiment('musl'), k, kernel, config));
  return { checks, skipped };
}
