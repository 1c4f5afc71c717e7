import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { EFLAGS, FIX_EFLAGS, gdtLayouts } from '../../layouts/segments.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { INIT_PKRU_VALUE } from '../kernel/task.js';
import { type DataModel, layoutOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import { valueAt } from '../schema/value.js';
import { bit, bitsOf, extendedComponents, has } from '../xsave/catalog.js';
import type { FrameValue, SignalState } from './state.js';
import type { FrameTarget } from './target.js';

/**
 * A representative state for pictures, examples and compat: zero registers but the selectors,
 * ip and flags a running task has, every component of the task in use except the AMX tiles
 * (left in INIT, so a thread that used AMX shows its 8 KiB region reserved but unwritten), on a
 * 64 KiB alt stack below `top`.
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
      if (!spec) return [];
      // The one PKRU of the task: its register in the component is fpu.pkru below.
      const v = zero<Record<string, unknown>>(spec.registers);
      return [[spec.name, nr === XFEATURE.PKRU ? { ...v, pkru: INIT_PKRU_VALUE } : v]];
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
    frame: resumableFrame(zero<FrameValue>(kind.struct, t.model), t),
    fpu: {
      legacy: { ...zero(fpstate_64), cwd: 0x37f, mxcsr: 0x1f80, mxcsr_mask: 0xffff },
      xstate_bv: inUse.reduce((m, nr) => m | bit(nr), XFEATURE_MASK.FPSSE),
      components,
      ...(has(t.task.userXfeatures, XFEATURE.PKRU) ? { pkru: INIT_PKRU_VALUE } : {}),
    },
  };
}

/**
 * The frame with a sigcontext a running task could have been interrupted with: the kernel's user
 * code and data selectors (layouts/segments.ts), an ip in user space, and flags without TF — so
 * that rt_sigreturn's verdict on it is about its FP state, not a return to user mode that faults.
 */
export function resumableFrame(frame: FrameValue, t: FrameTarget): FrameValue {
  const kind = frameKinds[t.kind];
  const gdt = gdtLayouts[t.config.bits];
  const v = structuredClone(frame);
  const sc = valueAt(v, kind.sigcontext) as Record<string, number | bigint>;
  const ia32 = kind.abi === 'ia32';
  const num = (x: number | bigint) => (typeof sc.ip === 'bigint' ? BigInt(x) : Number(x));
  sc.cs = ia32 ? (gdt.user32Cs ?? gdt.userCs) : gdt.userCs;
  sc.ss = gdt.userDs;
  sc.ip = num(0x400000n + (BigInt(sc.ip ?? 0) & 0xfffffn));
  sc.flags = num((BigInt(sc.flags ?? 0) & BigInt(FIX_EFLAGS & ~EFLAGS.TF)) | BigInt(EFLAGS.IF) | 2n);
  if (ia32) for (const seg of ['ds', 'es'] as const) sc[seg] = gdt.userDs;
  if (ia32) for (const seg of ['fs', 'gs'] as const) sc[seg] = 0;
  return v;
}
