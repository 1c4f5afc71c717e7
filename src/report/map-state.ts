import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import type { FrameValue, SignalState } from '../frame/state.js';
import type { FrameTarget } from '../frame/target.js';
import { INIT_PKRU_VALUE } from '../kernel/task.js';
import { type DataModel, layoutOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import { bit, bitsOf, extendedComponents, has } from '../xsave/catalog.js';

/**
 * A representative state for pictures and examples: zero registers, every component of the task
 * in use except the AMX tiles (left in INIT, so a thread that used AMX shows its 8 KiB region
 * reserved but unwritten), on a 64 KiB alt stack below `top`.
 */
export function sampleState(t: FrameTarget, profileRef: string, top?: bigint): SignalState {
  const kind = frameKinds[t.kind];
  const end = top ?? (kind.abi === 'x86_64' ? 0x7f00_0000_0000n : 0xf700_0000n);
  const zero = <T>(node: Parameters<typeof layoutOf>[0], model: DataModel = dataModels.lp64) =>
    decode(node, model, new Uint8Array(layoutOf(node, model).size)) as T;
  // AMX stays in INIT: a frame then carries no tiles, as a thread that never loaded any.
  const inUse = bitsOf(t.task.userXfeatures & ~XFEATURE_MASK.FPSSE & ~XFEATURE_MASK.XTILE);
  const components = Object.fromEntries(
    inUse.flatMap((nr) => {
      const spec = extendedComponents.find((x) => x.nr === nr);
      return spec ? [[spec.name, zero(spec.registers)]] : [];
    }),
  );
  const size = 1n << 16n;
  return {
    format: 'sigframe-state/1',
    kind: t.kind,
    profile: profileRef,
    kernel: t.kernel.version ? t.kernel.version.join('.') : t.kernel.era.since,
    amx: t.amx,
    delivery: { sp: end - size - (1n << 20n), onstack: true, altstack: { sp: end - size, size, flags: 0 } },
    frame: zero<FrameValue>(kind.struct, t.model),
    fpu: {
      legacy: { ...zero(fpstate_64), cwd: 0x37f, mxcsr: 0x1f80, mxcsr_mask: 0xffff },
      xstate_bv: inUse.reduce((m, nr) => m | bit(nr), XFEATURE_MASK.FPSSE),
      components,
      ...(has(t.task.userXfeatures, XFEATURE.PKRU) ? { pkru: INIT_PKRU_VALUE } : {}),
    },
  };
}
