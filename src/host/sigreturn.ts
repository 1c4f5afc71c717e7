import { type SigreturnExperiment, sigreturnSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

export type { SigreturnExperiment };

/**
 * Runs native/sigreturn.c as a 64-bit process (x86_64 frames) or a 32-bit one (ia32 rt and
 * legacy frames, whose restore path is another): what the running kernel did with each edit.
 */
export function runSigreturnExperiment(abi: 'x86_64' | 'ia32' = 'x86_64'): SigreturnExperiment {
  assertX86Linux('running sigreturn experiments');
  const out = runHelper(nativeHelper('sigreturn', abi === 'ia32' ? ['-m32', '-no-pie'] : ['-m64']));
  return parseSigreturnExperiment(out, 'native/sigreturn.c');
}

/** Reads the experiment's output (live, or a committed fixture); `where` names it in errors. */
export function parseSigreturnExperiment(text: string, where: string): SigreturnExperiment {
  try {
    return sigreturnSchema.parse(JSON.parse(text), 'sigreturn');
  } catch (e) {
    if (e instanceof InputError || e instanceof SyntaxError)
      throw new HostError(`unexpected output from ${where}: ${e.message}`);
    throw e;
  }
}
