import { InputError } from '../schema/errors.js';
import { type JsonInfer, j } from '../schema/json.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

/**
 * The alt-stack experiments of native/altstack.c: what the running kernel accepts and where it
 * puts frames, found by trying (one child process per try). Sizes and offsets come from the
 * kernel's answers and the handler's entry stack pointer, never from sigframe's model.
 */
const swFields = {
  has_fp: j.int(0, 1),
  magic1: j.u64(),
  extended_size: j.int(),
  xstate_size: j.int(),
  xfeatures: j.u64(),
  xstate_bv: j.u64(),
};

const altstackSchema = j.object({
  format: j.literal('sigframe-altstack/1'),
  release: j.optional(j.string()),
  abi: j.oneOf(['x86_64', 'ia32']),
  at_minsigstksz: j.nullable(j.int()),
  glibc: j.optional(j.object({ sc_minsigstksz: j.int(), sc_sigstksz: j.int() })),
  sigaltstack: j.object({ min_accepted: j.int(), errno_below: j.int() }),
  delivery: j.array(
    j.object({
      kind: j.oneOf(['x86_64', 'ia32', 'ia32-rt']),
      top_residue: j.int(0, 63),
      min_ss_size: j.int(),
      delivered_at_min: j.int(-1000, 1),
      frame_below_top: j.int(),
      error: j.int(-1000, 0),
      ...swFields,
    }),
  ),
  amx: j.optional(
    j.object({
      req_perm: j.int(-1, 0),
      req_errno: j.int(),
      sigaltstack_min_accepted: j.optional(j.int()),
      sigaltstack_errno_below: j.optional(j.int()),
      req_ok_min_ss_size: j.optional(j.int()),
      frames: j.optional(
        j.array(
          j.object({
            amx: j.oneOf(['none', 'permitted', 'used', 'used_released']),
            top_residue: j.int(0, 63),
            delivered: j.int(-1000, 1),
            frame_below_top: j.int(),
            ...swFields,
          }),
        ),
      ),
    }),
  ),
});

export type AltstackExperiment = JsonInfer<typeof altstackSchema>;

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
