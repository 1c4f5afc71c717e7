import { type AltstackExperiment, altstackSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

/** How each ABI's helper is built: ia32 without PIE, so its entry stub can store %esp absolutely. */
const builds = {
  x86_64: ['-m64'],
  ia32: ['-m32', '-no-pie'],
} as const;

export function parseAltstackOutput(text: string): AltstackExperiment {
  try {
    return altstackSchema.parse(JSON.parse(text), 'altstack');
  } catch (e) {
    if (e instanceof InputError || e instanceof SyntaxError)
      throw new HostError(`unexpected output from native/altstack.c: ${e.message}`);
    throw e;
  }
}

/** Runs the experiments as an `abi` process; throws HostError when that ABI cannot be built or run. */
export function runAltstackExperiment(abi: keyof typeof builds): AltstackExperiment {
  assertX86Linux('measuring signal delivery on the host');
  return parseAltstackOutput(runHelper(nativeHelper('altstack', builds[abi])));
}

export type { AltstackExperiment };
