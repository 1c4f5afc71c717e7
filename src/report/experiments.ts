import { type JsonInfer, j } from '../schema/json.js';

/**
 * The output formats of the native experiments (native/altstack.c, libc.c, sigreturn.c): what a live
 * kernel and C library answered. Defined here, beside the comparison with the model
 * (measure.ts), so a report reads them without depending on the code that runs them (src/host).
 */

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

export const altstackSchema = j.object({
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

/** What native/libc.c found out about the C library it was linked with. */
export const libcSchema = j.object({
  format: j.literal('sigframe-libc/1'),
  libc: j.oneOf(['glibc', 'musl']),
  version: j.nullable(j.string()),
  sc_minsigstksz: j.nullable(j.int()),
  sc_sigstksz: j.nullable(j.int()),
  sigaltstack_min: j.int(),
  errno_below: j.int(),
});

export type LibcExperiment = JsonInfer<typeof libcSchema>;

/**
 * What native/sigreturn.c saw: for each edit of a frame by its own handler (one child process
 * each), the frame as the kernel wrote it (once per kind), the edit as byte patches, and what the
 * kernel did — SIGSEGV and from where (trapno 0: rt_sigreturn's "bad frame"; 13/14: #GP or #PF on
 * the way back), another signal, or survival with the registers that came back, each classed
 * against the values loaded before the signal ("pattern") and the edit's ("edited").
 */
const vectorClass = j.oneOf(['pattern', 'edited', 'zero', 'other']);
export const sigreturnSchema = j.object({
  format: j.literal('sigframe-sigreturn/2'),
  release: j.optional(j.string()),
  cpu: j.optional(j.string()),
  xcr0: j.optional(j.u64()),
  mxcsr_mask: j.optional(j.u32()),
  foreign_bit: j.optional(j.int(0, 63)),
  error: j.optional(j.string()),
  results: j.optional(
    j.array(
      j.object({
        kind: j.oneOf(['x86_64', 'ia32-rt', 'ia32']),
        /** The thread had loaded tmm0 (ARCH_REQ_XCOMP_PERM, then a tile load): its frames carry the tile region. */
        amx: j.optional(j.oneOf(['used'])),
        edit: j.string(),
        frame: j.optional(j.object({ address: j.u64(), bytes: j.hex() })),
        patch: j.optional(j.array(j.object({ at: j.int(0, 1 << 20), bytes: j.hex() }))),
        outcome: j.oneOf(['survived', 'sigsegv', 'signal', 'exit']),
        xmm0: j.optional(vectorClass),
        ymm0_high: j.optional(vectorClass),
        st0: j.optional(j.oneOf(['pattern', 'edited', 'empty', 'other'])),
        fcw: j.optional(j.u32()),
        mxcsr: j.optional(j.u32()),
        df: j.optional(j.int(0, 1)),
        tmm0: j.optional(j.oneOf(['pattern', 'edited', 'zero', 'init', 'other'])),
        /** Transplants on an AVX-512 CPU: k0, zmm0's upper 256 bits and xmm16 as they came back (hex bytes, byte 0 first). */
        k0: j.optional(j.u64()),
        zmm0_hi: j.optional(j.hex()),
        xmm16: j.optional(j.hex()),
        phase: j.optional(j.oneOf(['sigreturn', 'return'])),
        si_code: j.optional(j.int(-1000, 1000)),
        trapno: j.optional(j.int(0, 255)),
        si_addr: j.optional(j.u64()),
        signal: j.optional(j.int(1, 64)),
        status: j.optional(j.int(-1, 255)),
      }),
    ),
  ),
});

export type SigreturnExperiment = JsonInfer<typeof sigreturnSchema>;
