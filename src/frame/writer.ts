import { dataModels } from '../../layouts/abi.js';
import { fregs_state } from '../abi/frames.js';
import { fpstate_64 } from '../abi/uapi.js';
import { encodeInto } from '../schema/encode.js';
import { locate } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import { buildFrame, KERNEL_DERIVED_SIGCONTEXT } from './build.js';
import { fsaveHeader } from './fsave.js';
import type { SignalState } from './state.js';
import type { FrameTarget } from './target.js';
import { frameLayout } from './view.js';

/** Register values to write into a frame; anything left out keeps the template's value. */
export interface FrameRegisters {
  /** sigcontext scalars by member name (r8 … cr2); fpstate and the kernel-derived ones are refused. */
  readonly sigcontext?: Readonly<Record<string, bigint | number>>;
  /** The legacy FXSAVE area's x87/SSE part (bytes 0..415, before its reserved bytes). */
  readonly legacy?: Uint8Array;
  /** Component bytes by component number, in that component's standard-format size. */
  readonly components?: ReadonlyMap<number, Uint8Array>;
}

const DERIVED = new Set(KERNEL_DERIVED_SIGCONTEXT);
/** The x87 and SSE part of the FXSAVE image: everything before its reserved bytes. */
const LEGACY_REGISTERS = locate(fpstate_64, dataModels.lp64, 'reserved2').offset;

/**
 * Many frames for one delivery: buildFrame() lays out the first (placement, derived members,
 * sw_reserved, header, MAGIC2, the written mask) and the writer then only copies register values
 * into that template at the schema's offsets — what C code with the layout compiled in does.
 * Components not in the template's XSTATE_BV are refused: changing which components are in use
 * changes what the kernel writes, so that takes a new template.
 */
export class FrameWriter {
  readonly template: ReturnType<typeof buildFrame>;
  private readonly scalars: ReadonlyMap<string, { offset: number; size: number }>;
  private readonly bufFx: number;
  private readonly components: ReadonlyMap<number, { offset: number; size: number }>;
  /** 32-bit frames: where the FSAVE header goes; it is converted from the x87 state, CS and DS. */
  private readonly fsave: number | undefined;

  constructor(state: SignalState, t: FrameTarget) {
    this.template = buildFrame(state, t);
    const l = frameLayout(t);
    this.scalars = new Map(l.sigcontext);
    this.bufFx = Number(this.template.placement.bufFx - this.template.address);
    this.components = new Map(
      [...l.components]
        .filter(([nr]) => (this.template.xstateBv >> BigInt(nr)) & 1n)
        .map(([nr, c]) => [nr, c]),
    );
    this.fsave =
      l.fsaveHeader > 0 ? Number(this.template.placement.fpstate - this.template.address) : undefined;
  }

  /** The frame bytes with `regs` written in; `out` (template-sized) is reused when given. */
  write(regs: FrameRegisters, out = new Uint8Array(this.template.bytes.length)): Uint8Array {
    if (out.length !== this.template.bytes.length) {
      throw new RangeError(
        `FrameWriter: output must be ${this.template.bytes.length} bytes, not ${out.length}`,
      );
    }
    out.set(this.template.bytes);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (const [name, value] of Object.entries(regs.sigcontext ?? {})) {
      const f = this.scalars.get(name);
      if (!f || DERIVED.has(name))
        throw new RangeError(`FrameWriter: sigcontext.${name} is not a register the writer sets`);
      if (f.size === 8) view.setBigUint64(f.offset, BigInt(value), true);
      else if (f.size === 4) view.setUint32(f.offset, Number(value), true);
      else view.setUint16(f.offset, Number(value), true);
    }
    if (regs.legacy) {
      if (regs.legacy.length !== LEGACY_REGISTERS)
        throw new RangeError(`FrameWriter: the legacy x87/SSE part is ${LEGACY_REGISTERS} bytes`);
      out.set(regs.legacy, this.bufFx);
    }
    for (const [nr, bytes] of regs.components ?? []) {
      const c = this.components.get(nr);
      if (!c) throw new RangeError(`FrameWriter: component ${nr} is not in use in the template (XSTATE_BV)`);
      if (bytes.length !== c.size)
        throw new RangeError(`FrameWriter: component ${nr} is ${c.size} bytes, not ${bytes.length}`);
      out.set(bytes, this.bufFx + c.offset);
    }
    if (
      this.fsave !== undefined &&
      (regs.legacy || regs.sigcontext?.cs !== undefined || regs.sigcontext?.ds !== undefined)
    ) {
      const fx = decode(fpstate_64, dataModels.lp64, out, this.bufFx);
      const cs = view.getUint16(this.scalars.get('cs')!.offset, true);
      const ds = view.getUint16(this.scalars.get('ds')!.offset, true);
      encodeInto(fregs_state, dataModels.ilp32, fsaveHeader(fx, cs, ds), out, this.fsave);
    }
    return out;
  }
}
