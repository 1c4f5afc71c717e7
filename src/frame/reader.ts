import type { FrameKindName } from '../../layouts/frames.js';
import type { fpx_sw_bytes } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import { type Access, compileAccess } from '../schema/compile.js';
import { DecodeError } from '../schema/errors.js';
import { memo } from '../schema/memo.js';
import type { Infer } from '../schema/node.js';
import { FXSAVE_SIZE, XSAVE_EXTENDED_START, XSTATE_BV_OFFSET } from '../xsave/catalog.js';
import { type FrameLayout, frameLayout } from './layout.js';
import type { FrameTarget } from './target.js';

/**
 * The fast path to a frame's fields, for code that reads many frames (profilers, signal-heavy
 * runtimes, fuzzers): member offsets come from the same schemas as decodeFrame(), and a reader
 * compiled from them per target reads at constant offsets, as C does by struct cast. It reads; it
 * does not judge: decodeFrame() gives the full typed state and the sigreturn verdict.
 */
/** The FXSAVE image's sw_reserved bytes, as the kernel fills them (struct _fpx_sw_bytes). */
export type SwReserved = Omit<Infer<typeof fpx_sw_bytes>, 'padding'>;

export interface FrameFields {
  /** Every scalar sigcontext member by its uapi name; 64-bit members are bigint. */
  readonly sigcontext: Readonly<Record<string, number | bigint>>;
  /** Offset of the XSAVE image (buf_fx) in the input, or -1 when sigcontext.fpstate is NULL. */
  readonly bufFx: number;
  readonly swReserved: SwReserved | undefined;
  /** XSTATE_BV; 0n when there is no XSAVE header (no FP state, or magic1 is not FP_XSTATE_MAGIC1). */
  readonly xstateBv: bigint;
  /**
   * Offset in the input of each extended component the task has (by the kernel's name: YMM,
   * OPMASK, …), or -1 when XSTATE_BV says it is in its INIT state and the kernel wrote nothing.
   */
  readonly components: Readonly<Record<string, number>>;
}

/**
 * A frame's fields as numbers in two typed arrays, for loops over many frames: readInto() fills it
 * without allocating, and `reader.slots` says which element holds which field. 64-bit values are
 * in `u64`; values of 32 bits or fewer, and byte offsets (-1: absent), are in `num`.
 */
export interface FrameRegisterFile {
  /** The frame kind whose slots these are. */
  readonly kind: FrameKindName;
  readonly u64: BigUint64Array;
  readonly num: Float64Array;
}

export interface FrameSlots {
  /** sigcontext's 64-bit members, then `sw_reserved.xfeatures` and `xstate_bv`. */
  readonly u64: Readonly<Record<string, number>>;
  /**
   * sigcontext's other members, then `buf_fx`, `sw_reserved.magic1`, `.extended_size`,
   * `.xstate_size`, and each extended component's offset by the kernel's name (YMM, OPMASK, …).
   */
  readonly num: Readonly<Record<string, number>>;
}

/**
 * Where a frame's fields are, for the zero-copy path (locate()): byte positions in the input's
 * ArrayBuffer (its byteOffset included), so a caller indexes its own typed arrays over that buffer
 * — `u64[(index[FRAME] + offsets.sigcontext.ip.offset) >> 3]` — and nothing is copied. -1: absent.
 */
export interface FrameIndexOffsets {
  /** Each sigcontext member's offset and size, from the frame's start (index[0]). */
  readonly sigcontext: Readonly<Record<string, { readonly offset: number; readonly size: number }>>;
  /** sw_reserved's members, from buf_fx (index[1]). */
  readonly swReserved: Readonly<Record<string, { readonly offset: number; readonly size: number }>>;
  /** XSTATE_BV, from buf_fx. */
  readonly xstateBv: number;
  /** The extended components, in the order of their positions index[2], index[3], … */
  readonly components: readonly string[];
}

export interface FrameReader {
  readonly layout: FrameLayout;
  readonly slots: FrameSlots;
  readonly offsets: FrameIndexOffsets;
  /**
   * The zero-copy read: checks the frame at bytes[at] as read() does and writes into `index`
   * (an Int32Array of indexLength) the buffer positions of the frame, buf_fx (-1: fpstate NULL)
   * and each component XSTATE_BV marks (-1: INIT, or no XSAVE header). Allocates nothing, and is
   * small enough for V8 to inline into the caller's loop. The positions are int32: an input that
   * ends past byte 2^31 - 1 of its buffer is a DecodeError (read() takes it).
   */
  locate(bytes: Uint8Array, address: bigint, index: Int32Array, at?: number): void;
  readonly indexLength: number;
  /**
   * The fields of the frame that starts at bytes[at] and lies at `address` in the task's memory.
   * Throws DecodeError, with the offset, when a field it needs lies outside `bytes`.
   */
  read(bytes: Uint8Array, address: bigint, at?: number): FrameFields;
  /** The same fields into `file` (from registerFile()), allocating nothing. */
  readInto(bytes: Uint8Array, address: bigint, file: FrameRegisterFile, at?: number): void;
  registerFile(): FrameRegisterFile;
}

/** The last byte position locate() can give: its index array is an Int32Array. */
const INT32_MAX = 2 ** 31 - 1;

/** Errors raised by compiled readers: kept out of the generated code so that stays small. */
const errors = {
  at(at: number): never {
    throw new DecodeError(`the frame's start ${at} is not a byte offset`, { path: 'at', offset: 0 });
  },
  short(length: number, at: number, need: number): never {
    throw new DecodeError(
      `sigcontext: a frame at byte ${at} needs ${need} bytes up to the end of its sigcontext; the input has ${length} bytes`,
      { path: 'sigcontext', offset: Math.max(0, Math.min(at + need, length)) },
    );
  },
  /** `offset` and `length` count from the frame start, `at` in the input. */
  outside(what: string, offset: number, size: number, length: number, at: number): never {
    const o = at + offset;
    throw new DecodeError(`${what}: bytes ${o}..${o + size} are outside the ${at + length}-byte input`, {
      path: what,
      offset: Math.max(0, Math.min(o, at + length)),
    });
  },
  int32(end: number): never {
    throw new DecodeError(
      `locate() gives positions as int32, and this input ends at byte ${end} of its buffer, past ${INT32_MAX}: use read() or readInto(), or copy the frames into a smaller buffer`,
      { path: 'bytes' },
    );
  },
  index(got: number, want: number): never {
    throw new DecodeError(`the index array has ${got} elements; this reader's indexLength is ${want}`, {
      path: 'index',
    });
  },
  file(kind: string): never {
    throw new DecodeError(
      `the register file is not this reader's (made for ${kind} frames by another reader?)`,
      {
        path: 'file',
      },
    );
  },
};

/**
 * The caller's address as two 32-bit halves (AH[0] low, AH[1] high), mod 2^64 as the kernel's
 * pointers are: a typed-array store V8 compiles without a BigInt operation, where comparing with
 * a cached address cost a fifth of locate().
 */
const ADDRESS_HALVES = 'A64[0] = address;';

/** The reader for a target, compiled once from its layout. */
export const frameReader: (t: FrameTarget) => FrameReader = memo((t: FrameTarget) =>
  compileReader(frameLayout(t)),
);

function slotsOf(l: FrameLayout): FrameSlots {
  const u64: string[] = [];
  const num: string[] = [];
  for (const [name, f] of l.sigcontext.fields) (f.size === 8 ? u64 : num).push(name);
  for (const [name, f] of l.image.swReserved.fields) (f.size === 8 ? u64 : num).push(`sw_reserved.${name}`);
  u64.push('xstate_bv');
  num.push('buf_fx', ...[...l.image.components.values()].map((c) => c.name));
  const index = (names: string[]) => Object.fromEntries(names.map((n, i) => [n, i]));
  return { u64: index(u64), num: index(num) };
}

/**
 * Generates readInto(): straight-line loads at constant offsets from typed arrays over the input's
 * buffer when the frame is aligned as the kernel aligns it, through a DataView otherwise, stored
 * into the register file. Why generated, and why a register file rather than an object: V8 keeps
 * 64-bit values unboxed only for typed-array loads and stores at constant indices in one function
 * body; an object of bigints costs an allocation per member, getters returning bigints were ~20×
 * slower, and a DataView loop over the field table ~15× (`npm run bench` prints that one).
 */
function compileReader(layout: FrameLayout): FrameReader {
  const l = layout;
  const slots = slotsOf(l);
  const sc = l.sigcontext.fields;
  const SW_FIELDS = l.image.swReserved.fields;
  const magic1 = SW_FIELDS.find(([n]) => n === 'magic1')![1].offset;
  const scEnd = Math.max(...sc.map(([, f]) => f.offset + f.size));
  const scAlign = Math.max(...sc.map(([, f]) => f.size)) as 1 | 2 | 4 | 8;
  const comps = [...l.image.components.values()];
  const q = (name: string) => `Q[${slots.u64[name]}]`;
  const n = (name: string) => `N[${slots.num[name]}]`;
  const slot = (name: string, size: number) => (size === 8 ? q(name) : n(name));
  const sizes = { u64: Object.keys(slots.u64).length, num: Object.keys(slots.num).length };
  const slowCall = 'readSlow(bytes, address, file, at)';
  // An ia32 frame is only 4-aligned, so is its XSAVE image: its two 64-bit words are read through DV.
  const xAlign = scAlign === 8 ? 8 : 4;
  // XSTATE_BV's bit nr, of its halves `lo` and `hi`; `hi` is read only where a component needs it.
  const bit = (nr: number) => (nr < 32 ? `lo & ${2 ** nr}` : `hi & ${2 ** (nr - 32)}`);
  const hiUsed = comps.some((c) => c.nr >= 32);
  // The fpstate pointer's 32-bit halves fpLo, fpHi (0 for a 32-bit pointer), and from them and
  // the address's halves buf_fx's exact offset from the frame (a double: any pointer, any address).
  const fpWords = (a: Access) =>
    `const fpLo = ${a.read('b', l.fpstatePointer.offset, 4)}, fpHi = ${l.fpstatePointer.size === 8 ? a.read('b', l.fpstatePointer.offset + 4, 4) : '0'};`;
  const fxExact = `(fpHi - AH[1]) * 4294967296 + (fpLo - AH[0]) + ${l.fsaveHeader}`;
  const bvHalves = (a: Access) =>
    `const lo = ${a.read('x', XSTATE_BV_OFFSET, 4)}${hiUsed ? `, hi = ${a.read('x', XSTATE_BV_OFFSET + 4, 4)}` : ''};`;
  const body = (a: Access) => {
    return `
  ${a.bases('b', scAlign, slowCall)}
  const Q = file.u64, N = file.num;
  if (Q.length !== ${sizes.u64} || N.length !== ${sizes.num}) E.file(file.kind);
  ${sc.map(([name, f]) => `${slot(name, f.size)} = ${a.read('b', f.offset, f.size)};`).join('\n  ')}
  ${fpWords(a)}
  let fx = -1${comps.map((c) => `, c${c.nr} = -1`).join('')};
  ${SW_FIELDS.map(([name, f]) => `${slot(`sw_reserved.${name}`, f.size)} = ${f.size === 8 ? '0n' : '0'};`).join(' ')}
  Q[${slots.u64.xstate_bv}] = 0n;
  if ((fpLo | fpHi) !== 0) {
    ${ADDRESS_HALVES}
    fx = ${fxExact};
    if (!(fx >= 0 && fx + ${FXSAVE_SIZE} <= len)) E.outside('fpstate', fx, ${FXSAVE_SIZE}, len, at);
    const x = b + fx;
    ${a.bases('x', xAlign, slowCall)}
    ${SW_FIELDS.map(([name, f]) => `${slot(`sw_reserved.${name}`, f.size)} = ${a.read('x', f.offset, f.size)};`).join('\n    ')}
    if (${a.read('x', magic1, 4)} === ${K.FP_XSTATE_MAGIC1}) {
      if (fx + ${XSAVE_EXTENDED_START} > len) E.outside('xsave_header', fx + ${FXSAVE_SIZE}, ${XSAVE_EXTENDED_START - FXSAVE_SIZE}, len, at);
      Q[${slots.u64.xstate_bv}] = ${a.read('x', XSTATE_BV_OFFSET, 8)};
      ${bvHalves(a)}
      ${comps
        .map(
          (c) => `if (${bit(c.nr)}) {
        c${c.nr} = fx + ${c.offset};
        if (c${c.nr} + ${c.size} > len) E.outside(${JSON.stringify(c.name)}, c${c.nr}, ${c.size}, len, at);
      }`,
        )
        .join('\n      ')}
    }
  }
  N[${slots.num.buf_fx}] = fx;
  ${comps.map((c) => `N[${slots.num[c.name]}] = c${c.nr};`).join(' ')}`;
  };
  const prologue = `
  if (at === undefined) at = 0;
  else if (at !== Math.floor(at)) E.at(at);
  const len = bytes.length - at;
  if (!(at >= 0 && len >= ${scEnd})) E.short(bytes.length, at, ${scEnd});
  if (bytes !== LAST) views(bytes);
  const b = OFF + at;`;
  // The checked locate(): readInto()'s checks on fewer loads, through the DataView, each failure
  // named; one extent test for every component the task has when the input holds the whole image,
  // per component otherwise. The fast locate() below hands it what its one test does not cover.
  const compEnd = Math.max(XSAVE_EXTENDED_START, ...comps.map((c) => c.offset + c.size));
  const locateChecked = (a: Access) => `
  if (b + len > ${INT32_MAX}) E.int32(b + len);
  if (I.length !== ${2 + comps.length}) E.index(I.length, ${2 + comps.length});
  ${fpWords(a)}
  I[0] = b;
  I[1] = -1;
  ${comps.map((_, i) => `I[${2 + i}] = -1;`).join(' ')}
  if ((fpLo | fpHi) === 0) return;
  ${ADDRESS_HALVES}
  const fx = ${fxExact};
  if (!(fx >= 0 && fx + ${FXSAVE_SIZE} <= len)) E.outside('fpstate', fx, ${FXSAVE_SIZE}, len, at);
  const x = b + fx;
  I[1] = x;
  if (${a.read('x', magic1, 4)} !== ${K.FP_XSTATE_MAGIC1}) return;
  const whole = fx + ${compEnd} <= len;
  if (!whole && fx + ${XSAVE_EXTENDED_START} > len) E.outside('xsave_header', fx + ${FXSAVE_SIZE}, ${XSAVE_EXTENDED_START - FXSAVE_SIZE}, len, at);
  ${bvHalves(a)}
  ${comps
    .map(
      (c, i) => `if (${bit(c.nr)}) {
    if (!whole && fx + ${c.offset + c.size} > len) E.outside(${JSON.stringify(c.name)}, fx + ${c.offset}, ${c.size}, len, at);
    I[${2 + i}] = x + ${c.offset};
  }`,
    )
    .join('\n  ')}`;
  // buf_fx's offset from the frame, as `fx`, when the pointer is not NULL and lies at or above the
  // frame in the same 4 GiB (the high halves equal) by less than 2^31; else 0, and the checked body
  // sorts it out. Int32 arithmetic only: the difference of two uint32 loads is a double to V8, and
  // converting it and comparing as doubles took a third of locate(); `| 0` keeps it int32 and turns
  // a difference of 2^31 or more negative, which the `fx > 0` test below sends to the checked body.
  const fpOffset = (a: Access) => `${fpWords(a)}
    ${ADDRESS_HALVES}
    const d = (fpLo - AH[0]) | 0;
    const fx = (fpLo | fpHi) !== 0 && fpHi === AH[1] && fpLo >= AH[0] ? ${l.fsaveHeader ? `(d + ${l.fsaveHeader}) | 0` : 'd'} : 0;`;
  // locate() as V8 inlines it into the caller's loop (under its 460-byte bytecode limit): one test
  // for the usual frame — aligned, FP state in an XSAVE image wholly inside the input — and
  // anything else to the checked body above (through the DataView), which gives the same
  // positions or names the error.
  const locateFast = (a: Access) => `
  if (at === undefined) at = 0;
  if (bytes !== LAST) views(bytes);
  const len = bytes.length - at, b = OFF + at;
  if (len >= ${scEnd} && at >= 0 && b + len <= ${INT32_MAX} && b % ${scAlign} === 0 && I.length === ${2 + comps.length}) {
    ${a.bases('b', scAlign, null)}${fpOffset(a)}
    const x = b + fx;
    if (fx > 0 && fx <= len - ${compEnd} && (x & ${xAlign - 1}) === 0) {
      ${a.bases('x', xAlign, null)}if (${a.read('x', magic1, 4)} === ${K.FP_XSTATE_MAGIC1}) {
        ${bvHalves(a)}
        I[0] = b;
        I[1] = x;
        marks(I, x, lo${hiUsed ? ', hi' : ''});
        return;
      }
    }
  }
  locateSlow(bytes, address, I, at);`;
  // Each component's position or -1, by XSTATE_BV: a function of its own, so that an AMX task's
  // many components do not take locate() over V8's inlining limit (both are inlined).
  const marks = `function marks(I, x, lo${hiUsed ? ', hi' : ''}) {
  ${comps.map((c, i) => `I[${2 + i}] = ${bit(c.nr)} ? x + ${c.offset} : -1;`).join('\n  ')}
}`;
  const registerFile = (): FrameRegisterFile => ({
    kind: l.target.kind,
    u64: new BigUint64Array(sizes.u64),
    num: new Float64Array(sizes.num),
  });
  // read() is generated too, per reader: one function shared by every reader would see many
  // readInto()s and stop V8 from inlining them.
  const { readInto, read, locate } = compileAccess(
    (fast, slow) => `
var A64 = new BigUint64Array(1), AH = new Uint32Array(A64.buffer);
${marks}
function readSlow(bytes, address, file, at) {${prologue}${body(slow)}
}
function readInto(bytes, address, file, at) {${prologue}${body(fast)}
}
function locateSlow(bytes, address, I, at) {${prologue}${locateChecked(slow)}
}
function locate(bytes, address, I, at) {${locateFast(fast)}
}
const file = SCRATCH, Q = file.u64, N = file.num;
function read(bytes, address, at) {
  readInto(bytes, address, file, at);
  return {
    sigcontext: { ${sc.map(([name, f]) => `${name}: ${f.size === 8 ? q(name) : n(name)}`).join(', ')} },
    bufFx: ${n('buf_fx')},
    swReserved: ${n('buf_fx')} < 0 ? undefined : { ${SW_FIELDS.map(([name, f]) => `${name}: ${(f.size === 8 ? q : n)(`sw_reserved.${name}`)}`).join(', ')} },
    xstateBv: ${q('xstate_bv')},
    components: { ${comps.map((c) => `${JSON.stringify(c.name)}: ${n(c.name)}`).join(', ')} },
  };
}
return { readInto, read, locate };`,
    { E: errors, SCRATCH: registerFile() },
  ) as Pick<FrameReader, 'read' | 'readInto' | 'locate'>;
  const members = (fields: typeof sc) =>
    Object.fromEntries(fields.map(([name, f]) => [name, { offset: f.offset, size: f.size }]));
  const offsets: FrameIndexOffsets = {
    sigcontext: members(sc),
    swReserved: members(SW_FIELDS),
    xstateBv: XSTATE_BV_OFFSET,
    components: comps.map((c) => c.name),
  };
  return { layout, slots, offsets, locate, indexLength: 2 + comps.length, readInto, read, registerFile };
}
