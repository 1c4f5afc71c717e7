import fc from 'fast-check';
import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { kernelEras } from '../../layouts/kernels.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { resumableFrame } from '../frame/sample.js';
import type { SignalState } from '../frame/state.js';
import { type FrameTarget, frameTarget } from '../frame/target.js';
import { chooseKernel } from '../kernel/eras.js';
import { systemTarget } from '../kernel/system.js';
import { amxStates, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { bit, bitsOf, extendedComponents, has } from '../xsave/catalog.js';
import { arbitraryOf } from './arbitraries.js';
import { arbitraryProfile } from './profiles.js';

/** Kernel eras (by their first version) and configurations. */
export function arbitraryKernel(): fc.Arbitrary<{ version: string; config: KernelConfig }> {
  return fc.record({
    version: fc.constantFrom(...kernelEras.map((e) => e.since)),
    config: fc.constantFrom<KernelConfig>(
      { bits: 64 },
      { bits: 64, ia32Emulation: false },
      { bits: 64, strictSasSize: true },
    ),
  });
}

/** The frame kinds a kernel configuration can deliver. */
export function kindsFor(config: KernelConfig): FrameKindName[] {
  return (Object.keys(frameKinds) as FrameKindName[]).filter((k) => {
    const abi = frameKinds[k].abi;
    if (config.bits === 32) return abi === 'ia32';
    return abi !== 'ia32' || config.ia32Emulation !== false;
  });
}

/** A CPU, kernel, configuration, frame kind and AMX state that can exist together. */
export function arbitraryTarget(
  profiles: fc.Arbitrary<Profile> = arbitraryProfile(),
): fc.Arbitrary<FrameTarget> {
  return fc
    .tuple(profiles, arbitraryKernel(), fc.nat(), fc.nat())
    .map(([profile, { version, config }, kindPick, amxPick]) => {
      const kernel = chooseKernel(version);
      const kinds = kindsFor(config);
      const kind = kinds[kindPick % kinds.length]!;
      const { k } = systemTarget(profile, kernel, config);
      const states = possibleAmxStates(k, kernel.era, config, frameKinds[kind].abi);
      return withName(frameTarget(kind, profile, kernel, config, states[amxPick % states.length]!));
    });
}

/** Counterexamples name the target instead of dumping its CPUID. */
function withName(t: FrameTarget): FrameTarget {
  const cfg = `${t.config.bits}-bit${t.config.ia32Emulation === false ? ' no-IA32' : ''}${t.config.strictSasSize ? ' strict' : ''}`;
  const name = `${t.kind} frame, ${t.profile.file.title} XCR0 0x${t.k.xcr0.toString(16)}, Linux ${t.kernel.era.since} ${cfg}, AMX ${t.amx}`;
  return Object.assign(t, { [fc.toStringMethod]: () => name });
}

/** Where a signal finds the thread: on an alt stack with a random top, or on the normal stack. */
export function arbitraryDelivery(addressBits = 47): fc.Arbitrary<SignalState['delivery']> {
  const top = fc.bigInt({ min: 1n << 24n, max: (1n << BigInt(addressBits)) - (1n << 20n) });
  return fc.oneof(
    fc.record({ top, residue: fc.integer({ min: 0, max: 63 }) }).map(({ top: t, residue }) => {
      const end = t - (t % 4096n) + BigInt(residue);
      const size = 1n << 16n;
      // The interrupted code runs on its normal stack, well below the alt stack.
      return { sp: end - size - (1n << 20n), onstack: true, altstack: { sp: end - size, size, flags: 0 } };
    }),
    top.map((t) => ({ sp: t - (t % 16n), onstack: false })),
  );
}

/**
 * A complete signal state for `t`: any frame struct contents, any legacy FP state, an in-use set
 * within the task's features (FP and SSE always), register values for each component in use.
 */
export function arbitraryState(t: FrameTarget): fc.Arbitrary<SignalState> {
  const kind = frameKinds[t.kind];
  const user = t.task.userXfeatures;
  const extended = bitsOf(user).filter((n) => extendedComponents.some((x) => x.nr === n));
  return fc
    .record({
      frame: arbitraryOf(kind.struct, t.model),
      legacy: arbitraryOf(fpstate_64, dataModels.lp64),
      inUse: fc.subarray(extended),
      values: fc.record(
        Object.fromEntries(
          extended.map((nr) => {
            const spec = extendedComponents.find((x) => x.nr === nr)!;
            return [spec.name, arbitraryOf(spec.registers, dataModels.lp64)];
          }),
        ),
      ),
      pkru: fc.integer({ min: 0, max: 0xffffffff }),
      delivery: arbitraryDelivery(kind.abi === 'x86_64' ? 47 : 32),
    })
    .map(({ frame, legacy, inUse, values, pkru, delivery }) => {
      const resumable = resumableFrame(frame as SignalState['frame'], t);
      const xstateBv = inUse.reduce((m, nr) => m | bit(nr), XFEATURE_MASK.FPSSE);
      const components = Object.fromEntries(
        inUse.map((nr) => {
          const name = extendedComponents.find((x) => x.nr === nr)!.name;
          const v = (values as Record<string, Record<string, unknown>>)[name]!;
          // One PKRU: the component's register holds fpu.pkru.
          return [name, nr === XFEATURE.PKRU ? { ...v, pkru } : v];
        }),
      );
      return {
        format: 'sigframe-state/1' as const,
        kind: t.kind,
        profile: t.profile.name,
        kernel: t.kernel.era.since,
        ...(t.config.ia32Emulation === false ? { ia32_emulation: false } : {}),
        amx: t.amx,
        delivery,
        frame: resumable,
        // MXCSR within the bits every SSE2 CPU defines, as a running program's is, and the mask
        // XSAVE records beside it.
        fpu: {
          legacy: { ...legacy, mxcsr: legacy.mxcsr & 0xffbf, mxcsr_mask: 0xffff },
          xstate_bv: xstateBv,
          components,
          ...(has(user, XFEATURE.PKRU) ? { pkru } : {}),
        },
      };
    });
}

export { amxStates };
