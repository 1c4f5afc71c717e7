import { SchemaError } from './errors.js';
import { preview } from './json.js';
import { type DataModel, layoutOf } from './layout.js';
import { memo } from './memo.js';
import type { Infer, Node } from './node.js';
import { nodeName } from './parse.js';

/**
 * The writer half of the schema: binary-parser only reads, so encoding walks the same layout and
 * writes through a DataView. Writers are compiled once per (node, model) into closures. Bytes the
 * schema does not own (padding, alignment gaps) are left as they are in the target, and an
 * optional mask records exactly which bytes were written — the frame builder needs that to tell
 * kernel-written bytes from untouched stack.
 */

type Writer = (view: DataView, offset: number, value: unknown, mask: Uint8Array | undefined) => void;

const writerFor = memo(
  (node: Node, model: DataModel, path: string): Writer => compile(node, model, path),
  (model, path) => `${model.name}:${path}`,
);

function fail(path: string, expected: string, value: unknown): never {
  const got =
    typeof value === 'bigint'
      ? `${value < 0n ? '-' : ''}0x${(value < 0n ? -value : value).toString(16)}`
      : value instanceof Uint8Array
        ? `${value.length} bytes`
        : Array.isArray(value)
          ? `array of ${value.length}`
          : preview(value);
  throw new SchemaError(`${path}: expected ${expected}, got ${got}`, { path });
}

function compile(node: Node, model: DataModel, path: string): Writer {
  const size = layoutOf(node, model).size;
  switch (node.kind) {
    case 'pad':
      return () => {};
    case 'int': {
      if (size === 8 || typeof node.width === 'string') {
        const bits = BigInt(size * 8);
        const min = node.signed ? -(1n << (bits - 1n)) : 0n;
        const max = node.signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
        const expected = `${node.ctype} as bigint in ${min}..${max}`;
        return (view, off, v, mask) => {
          if (typeof v !== 'bigint' || v < min || v > max) fail(path, expected, v);
          if (size === 8) view.setBigUint64(off, BigInt.asUintN(64, v), true);
          else view.setUint32(off, Number(v), true);
          mask?.fill(1, off, off + size);
        };
      }
      const min = node.signed ? -(2 ** (size * 8 - 1)) : 0;
      const max = node.signed ? 2 ** (size * 8 - 1) - 1 : 2 ** (size * 8) - 1;
      const expected = `${node.ctype} as integer in ${min}..${max}`;
      return (view, off, v, mask) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, expected, v);
        if (size === 1) view.setUint8(off, v & 0xff);
        else if (size === 2) view.setUint16(off, v & 0xffff, true);
        else view.setUint32(off, v >>> 0, true);
        mask?.fill(1, off, off + size);
      };
    }
    case 'bytes': {
      const expected = `Uint8Array of ${node.length} bytes`;
      return (view, off, v, mask) => {
        if (!(v instanceof Uint8Array) || v.length !== node.length) fail(path, expected, v);
        new Uint8Array(view.buffer, view.byteOffset + off, node.length).set(v);
        mask?.fill(1, off, off + node.length);
      };
    }
    case 'array': {
      const stride = layoutOf(node.element, model).size;
      const el = writerFor(node.element, model, `${path}[]`);
      const expected = `array of ${node.count}`;
      return (view, off, v, mask) => {
        if (!Array.isArray(v) || v.length !== node.count) fail(path, expected, v);
        for (let i = 0; i < node.count; i++) {
          try {
            el(view, off + i * stride, v[i], mask);
          } catch (e) {
            if (e instanceof SchemaError)
              throw new SchemaError(e.message.replace(`${path}[]`, `${path}[${i}]`), e.where);
            throw e;
          }
        }
      };
    }
    case 'struct': {
      const members = layoutOf(node, model)
        .fields.filter((f) => f.node.kind !== 'pad')
        .map((f) => ({
          name: f.name,
          offset: f.offset,
          write: writerFor(f.node, model, `${path}.${f.name}`),
        }));
      return (view, off, v, mask) => {
        if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
          fail(path, `struct ${node.name}`, v);
        }
        const obj = v as Record<string, unknown>;
        for (const m of members) {
          const field = obj[m.name];
          if (field === undefined)
            throw new SchemaError(`${path}.${m.name}: missing member`, { path: `${path}.${m.name}` });
          m.write(view, off + m.offset, field, mask);
        }
      };
    }
  }
}

/**
 * Writes `value` into `target` at `offset`. Bytes the schema does not own are left untouched; with
 * `mask` (same length as `target`) every written byte is set to 1.
 */
export function encodeInto<N extends Node>(
  node: N,
  model: DataModel,
  value: Infer<N>,
  target: Uint8Array,
  offset = 0,
  mask?: Uint8Array,
): void {
  const size = layoutOf(node, model).size;
  if (offset < 0 || offset + size > target.length) {
    throw new SchemaError(
      `${nodeName(node)}: needs ${size} bytes at offset ${offset}, target holds ${target.length}`,
      { offset },
    );
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  writerFor(node, model, nodeName(node))(view, offset, value, mask);
}

/** Encodes `value` into a fresh zero-filled buffer of sizeof(node). */
export function encode<N extends Node>(node: N, model: DataModel, value: Infer<N>): Uint8Array {
  const out = new Uint8Array(layoutOf(node, model).size);
  encodeInto(node, model, value, out);
  return out;
}
