import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProfile } from '../profile/profile.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';
import { emulatedCpu } from './probe.js';
import { hostProfile } from './profile.js';

export interface CaptureRun {
  readonly dir: string;
  /** Scenario names written, as NAME.bin + NAME.json. */
  readonly scenarios: readonly string[];
  /** Why a build (ia32) was not captured, if it was not. */
  readonly skipped: readonly string[];
}

const PROFILE_FILE = 'host-profile.json';

/**
 * Runs native/capture.c as a 64-bit and, where `cc -m32` works, a 32-bit process, writing each
 * scenario's frame into `dir`, plus this host's CPU profile so the captures decode the same way
 * on any machine later.
 */
export function captureHostFrames(dir: string): CaptureRun {
  assertX86Linux('capturing signal frames');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, PROFILE_FILE), formatProfile(hostProfile().file));
  const scenarios: string[] = [];
  const skipped: string[] = [];
  const emulator = emulatedCpu();
  for (const [abi, flags] of [
    ['x86_64', ['-m64']],
    ['ia32', ['-m32', '-no-pie']],
  ] as const) {
    let out: string;
    try {
      out = runHelper(nativeHelper('capture', flags), [dir]);
    } catch (e) {
      if (abi === 'ia32' && e instanceof HostError) {
        skipped.push(`ia32: ${e.message.split('\n')[0]}`);
        continue;
      }
      throw e;
    }
    for (const name of out.trim().split(/\s+/).filter(Boolean)) {
      const file = join(dir, `${name}.json`);
      const info = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      const note = emulator ? { cpu_emulator: emulator } : {};
      writeFileSync(file, `${JSON.stringify({ ...info, profile: PROFILE_FILE, ...note }, null, 2)}\n`);
      scenarios.push(name);
    }
  }
  return { dir, scenarios, skipped };
}
