import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../abi/frames.js';
import { fpstate_64 } from '../abi/uapi.js';
import { fsaveHeaderSize } from '../kernel/fpu_signal.js';
import { DecodeError } from '../schema/errors.js';
import { intSize, layoutOf, locate } from '../schema/layout.js';
import type { StructNode } from '../schema/node.js';
import { has } from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import { extendedComponents } from './state.js';
import type { FrameTarget } from './target.js';

/**
 * A lazy, zero-copy view of a frame for hot paths (profilers, signal-heavy runtimes, fuzzers):
 * member offsets come from the same schemas as decodeFrame(), computed once per target, and a
 * field is read only when asked for. Register files are returned as subarrays of the input, not
 * copied. decodeFrame() builds the full typed state; this reads what you ask, as fast as a
 * DataView can. Every read is bounds-checked against the input.
 */
interface Field {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

export interface FrameLayout {
  readonly target: FrameTarget;
  /** Absolute offsets from the frame start of each scalar sigcontext member. */
  readonly sigcontext: readonly (readonly [string, Field])[];
  readonly fpstatePointer: Field;
  readonly fsaveHeader: number;
  /** XSAVE image offsets (from buf_fx) of each extended component of the task, by number. */
  readonly components: ReadonlyMap<
    number,
    { readonly name: string; readonly offset: number; readonly size: number }
  >;
}

const layouts = new WeakMap<FrameTarget, FrameLayout>();

function scalars(node: StructNode, model: FrameTarget['model'], base: number): [string, Field][] {
  return layoutOf(node, model).fields.flatMap((f): [string, Field][] =>
    f.node.kind === 'int' ? [[f.name, { offset: base + f.offset, size: intSize(f.node.width, model) }]] : [],
  );
}

export function frameLayout(t: FrameTarget): FrameLayout {
  let l = layouts.get(t);
  if (l) return l;
  const kind = frameKinds[t.kind];
  const scPath = 'sc' in kind.struct.fields ? 'sc' : 'uc.uc_mcontext';
  const sc = locate(kind.struct, t.model, scPath);
  const scNode = sc.node as StructNode;
  const fields = scalars(scNode, t.model, sc.offset);
  const fp = fields.find(([n]) => n === 'fpstate')![1];
  const regions = xsaveLayout(t.profile.xsave, t.task.userXfeatures, 'standard').regions;
  const components = new Map(
    regions
      .filter((r) => typeof r.nr === 'number' && r.nr >= 2 && extendedComponents.some((x) => x.nr === r.nr))
      .map((r) => [r.nr as number, { name: r.name, offset: r.offset, size: r.size }]),
  );
  l = {
    target: t,
    sigcontext: fields,
    fpstatePointer: fp,
    fsaveHeader: fsaveHeaderSize(kind.fsaveHeader, t.k),
    components,
  };
  layouts.set(t, l);
  return l;
}

const SW = locate(fpstate_64, dataModels.lp64, 'sw_reserved').offset;

export class FrameView {
  private readonly view: DataView;
  private bufFxOffset: number | undefined;

  constructor(
    readonly bytes: Uint8Array,
    /** Address of bytes[0], which is the frame start. */
    readonly address: bigint,
    readonly layout: FrameLayout,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private check(offset: number, size: number, what: string): void {
    if (offset < 0 || offset + size > this.bytes.length) {
      throw new DecodeError(
        `${what}: bytes ${offset}..${offset + size} are outside the ${this.bytes.length}-byte input`,
        {
          path: what,
          offset: Math.max(0, Math.min(offset, this.bytes.length)),
        },
      );
    }
  }

  private read(f: Field, what: string): number | bigint {
    this.check(f.offset, f.size, what);
    switch (f.size) {
      case 1:
        return this.view.getUint8(f.offset);
      case 2:
        return this.view.getUint16(f.offset, true);
      case 4:
        return this.view.getUint32(f.offset, true);
      default:
        return this.view.getBigUint64(f.offset, true);
    }
  }

  /** The sigcontext's scalar members (GPRs, ip, flags, selectors, err, trapno, oldmask, cr2, fpstate). */
  sigcontext(): Record<string, number | bigint> {
    const out: Record<string, number | bigint> = {};
    for (const [name, f] of this.layout.sigcontext) out[name] = this.read(f, `sigcontext.${name}`);
    return out;
  }

  get fpstate(): bigint {
    return BigInt(this.read(this.layout.fpstatePointer, 'sigcontext.fpstate'));
  }

  /** Offset of the XSAVE image in the input, or undefined without FP state. */
  get bufFx(): number | undefined {
    if (this.bufFxOffset === undefined) {
      const fp = this.fpstate;
      if (fp === 0n) return undefined;
      this.bufFxOffset = Number(fp - this.address) + this.layout.fsaveHeader;
    }
    return this.bufFxOffset;
  }

  private fx(): number {
    const b = this.bufFx;
    if (b === undefined)
      throw new DecodeError('sigcontext.fpstate is NULL: the frame has no FP state', { path: 'fpstate' });
    return b;
  }

  swReserved(): { magic1: number; extended_size: number; xfeatures: bigint; xstate_size: number } {
    const o = this.fx() + SW;
    this.check(o, 24, 'sw_reserved');
    return {
      magic1: this.view.getUint32(o, true),
      extended_size: this.view.getUint32(o + 4, true),
      xfeatures: this.view.getBigUint64(o + 8, true),
      xstate_size: this.view.getUint32(o + 16, true),
    };
  }

  get xstateBv(): bigint {
    const o = this.fx() + 512;
    this.check(o, 8, 'XSTATE_BV');
    return this.view.getBigUint64(o, true);
  }

  /** A component's bytes as a view into the input, or undefined when XSTATE_BV says it is in INIT. */
  component(nr: number, xstateBv = this.xstateBv): Uint8Array | undefined {
    if (!has(xstateBv, nr)) return undefined;
    const c = this.layout.components.get(nr);
    if (!c) return undefined;
    const o = this.fx() + c.offset;
    this.check(o, c.size, c.name);
    return this.bytes.subarray(o, o + c.size);
  }

  /** xmm0..15 as one 256-byte view (16 bytes each), from the legacy region. */
  xmm(): Uint8Array {
    const o = this.fx() + 160;
    this.check(o, 256, 'xmm_space');
    return this.bytes.subarray(o, o + 256);
  }
}
