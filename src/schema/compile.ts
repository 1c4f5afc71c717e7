/**
 * Code generation for the compiled frame reader and writer (view.ts, writer.ts): the same body is
 * emitted twice, once with typed-array element accesses at constant indices — what V8 compiles to
 * plain loads and stores, 64-bit values unboxed — and once through a DataView, for input that is
 * not aligned as the kernel aligns a frame. The reader's views span the whole ArrayBuffer, indexed
 * by absolute byte position, as a caller's own views are; the writer's span its output array alone.
 * The views are made once per array, not per frame.
 */
export interface Access {
  /**
   * Declares the element indices of byte position `v` (a variable) and, in the fast body, returns
   * `fallback` when `v` is not `align`-aligned, so a typed-array index never truncates. With null
   * the caller has tested that, and each read computes its index in place: fewer bytecodes, for
   * a function small enough for V8 to inline.
   */
  bases(v: string, align: 1 | 2 | 4 | 8, fallback: string | null): string;
  /** An expression reading `size` bytes, little-endian, at byte position `v + offset`. */
  read(v: string, offset: number, size: 1 | 2 | 4 | 8): string;
  /** A statement storing `value` there (a bigint for 8 bytes, a number otherwise). */
  write(v: string, offset: number, size: 1 | 2 | 4 | 8, value: string): string;
}

const ARRAYS = { 1: 'U8', 2: 'U16', 4: 'U32', 8: 'U64' } as const;
const DV_TYPE = { 1: 'Uint8', 2: 'Uint16', 4: 'Uint32', 8: 'BigUint64' } as const;

/** Reads and writes through `DV`, a DataView over the buffer, at any alignment. */
export const dataViewAccess: Access = {
  bases: () => '',
  read: (v, offset, size) => `DV.get${DV_TYPE[size]}(${v} + ${offset}${size > 1 ? ', true' : ''})`,
  write: (v, offset, size, value) =>
    `DV.set${DV_TYPE[size]}(${v} + ${offset}, ${value}${size > 1 ? ', true' : ''});`,
};

function fast(): Access {
  const aligned = new Map<string, { align: number; declared: boolean }>();
  const index = (v: string, offset: number, size: 1 | 2 | 4 | 8) => {
    const a = aligned.get(v);
    if (!a || size > a.align || offset % size !== 0) return undefined;
    const base = a.declared ? `${v}${size}` : size === 1 ? v : `(${v} >>> ${Math.log2(size)})`;
    return `${ARRAYS[size]}[${base} + ${offset / size}]`;
  };
  return {
    bases(v, align, fallback) {
      aligned.set(v, { align, declared: fallback !== null });
      if (fallback === null) return '';
      const check = align > 1 ? `if ((${v} & ${align - 1}) !== 0) return ${fallback};\n  ` : '';
      const decls = ([1, 2, 4, 8] as const)
        .filter((s) => s <= align)
        .map((s) => `${v}${s} = ${s === 1 ? v : `${v} >>> ${Math.log2(s)}`}`);
      return `${check}const ${decls.join(', ')};`;
    },
    read: (v, offset, size) => index(v, offset, size) ?? dataViewAccess.read(v, offset, size),
    write: (v, offset, size, value) => {
      const i = index(v, offset, size);
      return i ? `${i} = ${value};` : dataViewAccess.write(v, offset, size, value);
    },
  };
}

/**
 * Compiles `source(fast, slow)` — a function body that returns the compiled function — with the
 * view variables U8…U64 and DV in scope, and `views(bytes)` to point them at `bytes` (then `OFF` is
 * its byteOffset): at its whole buffer, or with span 'array' at the array alone; call it when
 * `bytes !== LAST`.
 */
export function compileAccess(
  source: (fast: Access, slow: Access) => string,
  scope: Readonly<Record<string, unknown>>,
  span: 'buffer' | 'array' = 'buffer',
): unknown {
  // 'array': the views cover only the array, from its start, so the bodies index from 0 — at
  // constant indices, where V8's stores need no index arithmetic. U16…U64 exist where the
  // array's byteOffset (OFF) is aligned for them: the fast body must test OFF before it runs.
  const typed =
    span === 'buffer'
      ? `U8 = new Uint8Array(buffer);
  U16 = new Uint16Array(buffer, 0, buffer.byteLength >>> 1);
  U32 = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  U64 = new BigUint64Array(buffer, 0, buffer.byteLength >>> 3);
  DV = new DataView(buffer);`
      : `const n = bytes.length;
  U8 = bytes;
  U16 = (OFF & 1) === 0 ? new Uint16Array(buffer, OFF, n >>> 1) : undefined;
  U32 = (OFF & 3) === 0 ? new Uint32Array(buffer, OFF, n >>> 2) : undefined;
  U64 = (OFF & 7) === 0 ? new BigUint64Array(buffer, OFF, n >>> 3) : undefined;
  DV = new DataView(buffer, OFF, n);`;
  const prelude = `"use strict";
var LAST = null, OFF = 0, U8, U16, U32, U64, DV; // var: no TDZ checks at each use
function views(bytes) {
  // Kept per input array: reading .buffer and .byteOffset cost more than the frame's loads.
  LAST = bytes;
  OFF = bytes.byteOffset;
  const buffer = bytes.buffer;
  ${typed}
}
`;
  const names = Object.keys(scope);
  return new Function(...names, prelude + source(fast(), dataViewAccess))(...names.map((n) => scope[n]));
}
