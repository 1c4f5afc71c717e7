import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { structModel } from '../abi/index.js';
import { amxStates } from '../kernel/task.js';
import { InputError } from '../schema/errors.js';
import { type JsonInfer, type JsonSchema, j } from '../schema/json.js';
import type { Infer } from '../schema/node.js';
import { extendedComponents } from '../xsave/catalog.js';
import { parseSiginfoJson, type SiginfoValue } from './siginfo.js';

/**
 * Everything that determines a signal frame, as one typed value whose TypeScript type is inferred
 * from the schemas below and the frame structs — what `sigframe decode` prints and `sigframe build`
 * reads. The frame struct value is the kernel's own struct (rt_sigframe, sigframe_ia32, …) with
 * every member; the builder recomputes the members the kernel derives (uc_flags, the fpstate
 * pointer, pinfo/puc, retcode, sigcontext.oldmask) so a state only has to be right about the
 * program's registers, the signal and the alt stack.
 */

/** The value of kind K's frame struct. */
export type FrameValue<K extends FrameKindName = FrameKindName> = K extends FrameKindName
  ? Infer<(typeof frameKinds)[K]['struct']>
  : never;

type WithRegisters = (typeof extendedComponents)[number];
/** Register values of the extended components, by kernel component name (YMM, OPMASK, …). */
export type ComponentValues = {
  -readonly [S in WithRegisters as S['name']]?: Infer<S['registers']>;
};

const componentsSchema: JsonSchema<ComponentValues> = {
  describe: 'component register values by name',
  parse(v, p) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new InputError(`${p}: expected an object of component register values`, { path: p });
    }
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(v)) {
      const spec = extendedComponents.find((x) => x.name === name);
      if (!spec) {
        throw new InputError(
          `${p}.${name}: not a component with registers (expected one of ${extendedComponents.map((x) => x.name).join(', ')})`,
          { path: `${p}.${name}` },
        );
      }
      out[name] = j.struct(spec.registers, dataModels.lp64).parse(value, `${p}.${name}`);
    }
    return out as ComponentValues;
  },
};

export const fpuStateSchema = j.object({
  /** The 512-byte legacy region; sw_reserved and reserved2 are the kernel's, ignored by build. */
  legacy: j.struct(fpstate_64, dataModels.lp64),
  /**
   * XSTATE_BV: the components in use (XINUSE) when the signal came, as the frame's header records
   * them — FP and SSE always, nothing outside the task's XSAVE features, and a bit set exactly for
   * the extended components whose registers `components` (or `pkru`) gives. build refuses any
   * other combination (checkFpuState() in build.ts), so what a state says is what its frame holds.
   */
  xstate_bv: j.u64(),
  components: componentsSchema,
  /** PKRU of the interrupted code (6.12+ store it into the frame themselves). */
  pkru: j.optional(j.u32()),
});

/**
 * sigaltstack() flags: a C int holding a flag word, SS_AUTODISARM in its sign bit. Kept unsigned;
 * the signed form (−2147483647 for SS_ONSTACK|SS_AUTODISARM) is read too.
 */
const ssFlags: JsonSchema<number> = {
  describe: 'sigaltstack() flags (a 32-bit value)',
  parse: (v, p) => j.int(-0x80000000, 0xffffffff).parse(v, p) >>> 0,
};
const altstackSchema = j.object({ sp: j.u64(), size: j.u64(), flags: ssFlags });

/** The state's fields besides the frame struct, which is parsed once the kind is known. */
const stateShape = j.object({
  format: j.literal('sigframe-state/1'),
  kind: j.oneOf(Object.keys(frameKinds) as FrameKindName[]),
  /** CPU profile: a shipped name, a file, or "host". */
  profile: j.string(),
  kernel: j.string(),
  kernel_bits: j.optional(j.oneOf(['64', '32'])),
  ia32_emulation: j.optional(j.boolean()),
  amx: j.oneOf(amxStates),
  /** The interrupted stack pointer, SA_ONSTACK, and the thread's sigaltstack (null: none). */
  delivery: j.object({ sp: j.u64(), onstack: j.boolean(), altstack: j.optional(j.nullable(altstackSchema)) }),
  frame: { describe: 'the frame struct', parse: (v: unknown) => v },
  /** null: the frame carries no FP state (sigcontext.fpstate = 0). */
  fpu: j.nullable(fpuStateSchema),
  /**
   * The siginfo to deliver, by member (parsed once the kind is known): when present the builder
   * writes it over frame.info — si_signo, si_errno, si_code and the layout's members of _sifields,
   * the rest zero, as encodeSiginfo() lays it out. Kinds without siginfo (ia32 legacy) refuse it.
   */
  siginfo: j.optional({ describe: 'a siginfo ({ si_signo, si_code, … })', parse: (v: unknown) => v }),
});

export type FpuState = JsonInfer<typeof fpuStateSchema>;
export type SignalState = Omit<JsonInfer<typeof stateShape>, 'frame' | 'fpu' | 'siginfo'> & {
  frame: FrameValue;
  fpu: FpuState | undefined;
  /** Written over frame.info by the builder (see stateShape.siginfo). */
  siginfo?: SiginfoValue;
};

/** Whether frames of `kind` carry a siginfo (every kind but the ia32 legacy frame). */
export function kindHasSiginfo(kind: FrameKindName): boolean {
  return 'info' in frameKinds[kind].struct.fields;
}

/** The InputError for a siginfo given for a kind whose frame has none. */
export function noSiginfoError(kind: FrameKindName, path: string): InputError {
  return new InputError(
    `${path}: ${frameKinds[kind].struct.name} frames (kind ${kind}, a handler installed without SA_SIGINFO) carry no siginfo`,
    { path },
  );
}

/** Parses a state's JSON form (as `sigframe decode --json` prints it under "state"). */
export function parseState(value: unknown, where = '$'): SignalState {
  const base = stateShape.parse(value, where);
  const kind = frameKinds[base.kind];
  const model = structModel(kind.struct, kind.abi, base.kernel_bits === '32' ? 32 : 64);
  const frame = j
    .struct(kind.struct, model)
    .parse((value as Record<string, unknown>).frame, `${where}.frame`);
  const { siginfo: rawSiginfo, ...rest } = base;
  if (rawSiginfo === undefined) return { ...rest, frame: frame as FrameValue, fpu: base.fpu };
  if (!kindHasSiginfo(base.kind)) throw noSiginfoError(base.kind, `${where}.siginfo`);
  const siginfo = parseSiginfoJson(rawSiginfo, `${where}.siginfo`, kind.abi);
  return { ...rest, frame: frame as FrameValue, fpu: base.fpu, siginfo };
}
