import { InputError } from '../schema/errors.js';
import { type JsonInfer, j } from '../schema/json.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

/**
 * What the running kernel's rt_sigreturn did with frames edited in their own handler
 * (native/sigreturn.c): survived with ymm0 restored, zeroed (INIT) or partly restored, or died.
 */
const sigreturnSchema = j.object({
  format: j.literal('sigframe-sigreturn/1'),
  abi: j.optional(j.oneOf(['x86_64', 'ia32'])),
  xcr0: j.optional(j.u64()),
  foreign_bit: j.optional(j.int(0, 63)),
  error: j.optional(j.string()),
  results: j.optional(
    j.array(
      j.object({
        edit: j.string(),
        outcome: j.string(),
        xmm0: j.optional(j.oneOf(['restored', 'zero', 'other'])),
        ymm0_high: j.optional(j.oneOf(['restored', 'zero', 'other'])),
      }),
    ),
  ),
});

export type SigreturnExperiment = JsonInfer<typeof sigreturnSchema>;

/** Runs the experiments as a 64-bit or an ia32 process (the ia32 restore path is a different one). */
export function runSigreturnExperiment(abi: 'x86_64' | 'ia32' = 'x86_64'): SigreturnExperiment {
  assertX86Linux('running sigreturn experiments');
  const out = runHelper(nativeHelper('sigreturn', abi === 'ia32' ? ['-m32', '-no-pie'] : ['-m64']));
  try {
    return sigreturnSchema.parse(JSON.parse(out), 'sigreturn');
  } catch (e) {
    if (e instanceof InputError || e instanceof SyntaxError)
      throw new HostError(`unexpected output from native/sigreturn.c: ${e.message}`);
    throw e;
  }
}
