import { type Access, compileAccess } from '../schema/compile.js';
import { has } from '../xsave/catalog.js';
import { type BuiltFrame, buildFrame } from './build.js';
import { fsaveHeaderSource, fullTagWord } from './fsave.js';
import { derivedSigcontextMembers, frameLayout } from './layout.js';
import { type FrameRegisterFile, frameReader } from './reader.js';
import type { SignalState } from './state.js';
import type { FrameTarget } from './target.js';

/** Register values to write into a frame; anything left out keeps the template's value. */
export interface FrameRegisters {
  /** sigcontext scalars by member name (r8 … cr2); fpstate and the kernel-derived ones are refused. */
  readonly sigcontext?: Readonly<Record<string, bigint | number>>;
  /**
   * The sigcontext members from a register file that frameReader(t).readInto() filled (then
   * changed, perhaps): decode, edit, build without boxing a value. The kernel-derived members in it
   * are not written. Excludes `sigcontext`.
   */
  readonly registers?: FrameRegisterFile;
  /**
   * The whole XSAVE image as the frame carries it (xstate_size bytes: legacy region, header,
   * components), as PTRACE_GETREGSET NT_X86_XSTATE or a checkpoint holds it. Its XSTATE_BV must be
   * the template's. Its reserved bytes 416..463, sw_reserved and the header past XSTATE_BV are the
   * template's (what the kernel writes there, or leaves); the rest, INIT components included, is copied.
   * Excludes `legacy` and `components`.
   */
  readonly xsave?: Uint8Array;
  /** The legacy FXSAVE area's x87/SSE part (bytes 0..415, before its reserved bytes). */
  readonly legacy?: Uint8Array;
  /** Component bytes by component number, in that component's standard-format size. */
  readonly components?: ReadonlyMap<number, Uint8Array>;
}

/** Template bytes after the XSAVE image (MAGIC2 and the slack) written as constants, not copied, up to this. */
const POST_CONSTANTS = 64;
/**
 * Template bytes before the image (the frame struct and the gap to buf_fx) written as constants
 * around the registers, not copied, up to this: a copy costs some 50 ns however short (V8's
 * TypedArray set()), the stores a few, and the registers overwrite most of a copy anyway.
 */
const PRE_CONSTANTS = 1024;

/**
 * Many frames for one delivery: buildFrame() lays out the first (placement, derived members,
 * sw_reserved, header, MAGIC2, the written mask) and the writer, compiled from that template, only
 * copies register values into it at the schema's offsets — what C code with the layout compiled in
 * does. Components not in the template's XSTATE_BV are refused: changing which components are in
 * use changes what the kernel writes, so that takes a new template.
 */
export class FrameWriter {
  readonly template: BuiltFrame;
  /** The frame bytes with `regs` written in; `out` (template-sized) is reused when given. */
  readonly write: (regs: FrameRegisters, out?: Uint8Array) => Uint8Array;

  constructor(state: SignalState, t: FrameTarget) {
    this.template = buildFrame(state, t);
    this.write = compileWriter(this.template, t);
  }
}

function compileWriter(tpl: BuiltFrame, t: FrameTarget): FrameWriter['write'] {
  const l = frameLayout(t);
  const bytes = tpl.bytes;
  const size = bytes.length;
  const fx = Number(tpl.placement.bufFx - tpl.address);
  const userSize = t.task.userSize;
  const inUse = [...l.image.components.values()].filter((c) => has(tpl.xstateBv, c.nr));
  const LEGACY_REGISTERS = l.image.registers.size;
  const XSTATE_BV_OFFSET = l.image.header.xstateBv.offset;
  const HEADER_END = l.image.header.offset + l.image.header.size;
  const derived = new Set(derivedSigcontextMembers(t.kind));
  const scalars = l.sigcontext.fields.filter(([name]) => !derived.has(name));
  const scAlign = Math.max(...scalars.map(([, f]) => f.size)) as 1 | 2 | 4 | 8;
  const fsave = l.fsaveHeader > 0 ? Number(tpl.placement.fpstate - tpl.address) : undefined;
  const slots = frameReader(t).slots;
  /** Elements a register file needs for the sigcontext members the writer takes from it. */
  const need = {
    u64: Math.max(0, ...scalars.filter(([, f]) => f.size === 8).map(([n]) => slots.u64[n]! + 1)),
    num: Math.max(0, ...scalars.filter(([, f]) => f.size !== 8).map(([n]) => slots.num[n]! + 1)),
  };
  const field = (name: string) => l.sigcontext.fields.find(([n]) => n === name)?.[1];

  // Where the FSAVE header's selectors come from (32-bit frames only), found once.
  const csAt = field('cs')?.offset ?? 0;
  const dsAt = field('ds')?.offset ?? 0;
  const errors = {
    size(n: number): never {
      throw new RangeError(`FrameWriter: output must be ${size} bytes, not ${n}`);
    },
    /** Some member of `sc` is not one the writer sets: name it. */
    registers(sc: Readonly<Record<string, unknown>>): never {
      const name = Object.keys(sc).find((k) => scope.WRITABLE[k] !== true);
      if (name === undefined)
        throw new RangeError('FrameWriter: a sigcontext member is undefined; leave it out instead');
      throw new RangeError(`FrameWriter: sigcontext.${name} is not a register the writer sets`);
    },
    length(what: string, want: number, got: number): never {
      throw new RangeError(`FrameWriter: ${what} is ${want} bytes, not ${got}`);
    },
    both(what: string): never {
      throw new RangeError(`FrameWriter: give either ${what}, not both`);
    },
    kind(kind: string): never {
      throw new RangeError(
        `FrameWriter: the register file is not one of frameReader(target).registerFile() for ${t.kind} frames (it says ${kind})`,
      );
    },
    xstateBv(x: Uint8Array): never {
      const bv = new DataView(x.buffer, x.byteOffset + XSTATE_BV_OFFSET, 8).getBigUint64(0, true);
      throw new RangeError(
        `FrameWriter: the image's XSTATE_BV 0x${bv.toString(16)} is not the template's 0x${tpl.xstateBv.toString(16)}; a different set of components in use takes a new template`,
      );
    },
    component(nr: number): never {
      throw new RangeError(`FrameWriter: component ${nr} is not in use in the template (XSTATE_BV)`);
    },
  };
  // Template pieces copied whole; the constants are stored by the generated code.
  const scope = {
    E: errors,
    fullTagWord,
    PRE: bytes.slice(0, fx),
    IMAGE: bytes.slice(fx, fx + userSize),
    POST: bytes.slice(fx + userSize),
    WRITABLE: Object.assign(Object.create(null), Object.fromEntries(scalars.map(([n]) => [n, true]))),
  };
  const tv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** Template bytes from..to as stores of constants: 8 bytes at a time where aligned. */
  const constants = (a: Access, from: number, to: number) => {
    const out: string[] = [];
    for (let at = from; at < to; ) {
      // 8-byte stores only where the frame's own alignment makes them typed-array stores (x86_64):
      // on a 4-aligned ia32 frame they would be DataView stores of BigInts, 10× slower than two.
      const size = ([8, 4, 1] as const).find((n) => n <= scAlign && at % n === 0 && at + n <= to) ?? 1;
      const v =
        size === 8
          ? `${tv.getBigUint64(at, true)}n`
          : size === 4
            ? String(tv.getUint32(at, true))
            : String(bytes[at]);
      out.push(a.write('o', at, size, v));
      at += size;
    }
    return out.join(' ');
  };
  // Before the image: the template's bytes where no register goes; each register's own when the
  // caller gives none.
  const inlinePre = fx <= PRE_CONSTANTS;
  const members = [...scalars].sort(([, a], [, b]) => a.offset - b.offset);
  const pre = (a: Access) => {
    if (!inlinePre) return 'out.set(PRE, 0);';
    const out: string[] = [];
    let at = 0;
    for (const [, f] of members) {
      if (f.offset > at) out.push(constants(a, at, f.offset));
      at = Math.max(at, f.offset + f.size);
    }
    if (fx > at) out.push(constants(a, at, fx));
    return out.join('\n  ');
  };
  const keep = (a: Access, f: { offset: number; size: number }) =>
    inlinePre ? constants(a, f.offset, f.offset + f.size) : '';
  const value = (size: number) => (size === 8 ? "typeof v === 'bigint' ? v : BigInt(v)" : 'Number(v)');
  // Both bodies write through views of `out` alone (compileAccess's 'array' span), from its
  // start: constant indices. The fast one needs `out` aligned in its buffer as the frame is.
  const enter = (fast: boolean) =>
    fast ? `if ((OFF & ${scAlign - 1}) !== 0) return writeSlow(regs, out);` : '';
  const body = (a: Access, fast: boolean) => `
  ${enter(fast)}
  const o = 0;
  ${a.bases('o', scAlign, null)}
  ${pre(a)}
  const x = regs.xsave;
  if (x !== undefined) {
    if (regs.legacy !== undefined || regs.components !== undefined) E.both('xsave or legacy/components');
    if (x.length !== ${userSize}) E.length('xsave', ${userSize}, x.length);
    if (${Array.from({ length: 8 }, (_, i) => `x[${XSTATE_BV_OFFSET + i}] !== ${bytes[fx + XSTATE_BV_OFFSET + i]}`).join(' || ')}) E.xstateBv(x);
    out.set(x, ${fx});
    ${constants(a, fx + LEGACY_REGISTERS, fx + XSTATE_BV_OFFSET)}
    ${constants(a, fx + XSTATE_BV_OFFSET + 8, fx + HEADER_END)}
  } else {
    out.set(IMAGE, ${fx});
    const lg = regs.legacy;
    if (lg !== undefined) {
      if (lg.length !== ${LEGACY_REGISTERS}) E.length('the legacy x87/SSE part', ${LEGACY_REGISTERS}, lg.length);
      out.set(lg, ${fx});
    }
    const m = regs.components;
    if (m !== undefined) {
      for (const [nr, c] of m) {
        switch (nr) {
          ${inUse
            .map(
              (c) =>
                `case ${c.nr}: if (c.length !== ${c.size}) E.length('component ${c.nr}', ${c.size}, c.length); out.set(c, ${fx + c.offset}); break;`,
            )
            .join('\n          ')}
          default: E.component(nr);
        }
      }
    }
  }
  ${size - (fx + userSize) <= POST_CONSTANTS ? constants(a, fx + userSize, size) : `out.set(POST, ${fx + userSize});`}
  const sc = regs.sigcontext;
  const rf = regs.registers;
  if (rf !== undefined) {
    if (sc !== undefined) E.both('sigcontext or registers');
    const Q = rf.u64, N = rf.num;
    if (rf.kind !== ${JSON.stringify(t.kind)} || Q.length < ${need.u64} || N.length < ${need.num}) E.kind(rf.kind);
    ${scalars
      .map(([name, f]) =>
        a.write('o', f.offset, f.size, f.size === 8 ? `Q[${slots.u64[name]}]` : `N[${slots.num[name]}]`),
      )
      .join('\n    ')}
  } else if (sc !== undefined) {
    let given = 0;
    let v;
    ${scalars
      .map(
        ([name, f]) =>
          `v = sc.${name}; if (v !== undefined) { given++; ${a.write('o', f.offset, f.size, value(f.size))} }${inlinePre ? ` else { ${keep(a, f)} }` : ''}`,
      )
      .join('\n    ')}
    if (given !== Object.keys(sc).length) E.registers(sc);
  }${
    inlinePre
      ? ` else {
    ${scalars.map(([, f]) => keep(a, f)).join('\n    ')}
  }`
      : ''
  }
  ${
    fsave === undefined
      ? ''
      : // 32-bit frames: the FSAVE header converted from the x87 state, CS and DS, as the kernel does.
        `if (x !== undefined || regs.legacy !== undefined || rf !== undefined || (sc !== undefined && (sc.cs !== undefined || sc.ds !== undefined))) {
    ${fsaveHeaderSource(a, { v: 'o', offset: fx }, { v: 'o', offset: fsave }, a.read('o', csAt, 2), a.read('o', dsAt, 2))}
  }`
  }
  return out;`;
  const prologue = `
  if (out === undefined) out = new Uint8Array(${size});
  else if (out.length !== ${size}) E.size(out.length);
  if (out !== LAST) views(out);`;
  return compileAccess(
    (fast, slow) => `
function writeSlow(regs, out) {${prologue}${body(slow, false)}
}
return function write(regs, out) {${prologue}${body(fast, true)}
};`,
    scope,
    'array',
  ) as FrameWriter['write'];
}
