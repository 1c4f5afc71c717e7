import { InputError } from './errors.js';
import { type DataModel, intSize } from './layout.js';
import type { Infer, Node } from './node.js';

/**
 * A small validator for JSON input files (profiles, states), in the style of zod: a schema object
 * checks a value and its TypeScript type is inferred from the schema, so the file format is
 * written once. Errors name the JSON path (`$.cpuid[3].eax`).
 */
export interface JsonSchema<T> {
  readonly describe: string;
  parse(value: unknown, path: string): T;
}

export type JsonInfer<S> = S extends JsonSchema<infer T> ? T : never;

/**
 * A value as an error message shows it: JSON, cut to `max` characters and 3 levels deep, so a
 * hostile input (10^5 nested arrays, a 100 MB string) costs nothing to name.
 */
export function preview(value: unknown, max = 60): string {
  const walk = (v: unknown, depth: number): string => {
    if (v === undefined) return 'nothing';
    if (typeof v === 'bigint') return `0x${v.toString(16)}`;
    if (typeof v === 'string') return JSON.stringify(v.length > max ? `${v.slice(0, max)}…` : v);
    if (typeof v !== 'object' || v === null) return String(v);
    if (depth >= 3) return Array.isArray(v) ? '[…]' : '{…}';
    if (Array.isArray(v)) {
      const items = v.slice(0, 4).map((x) => walk(x, depth + 1));
      return `[${items.join(',')}${v.length > 4 ? ',…' : ''}]`;
    }
    const keys = Object.keys(v);
    const items = keys
      .slice(0, 4)
      .map((k) => `${JSON.stringify(k)}:${walk((v as Record<string, unknown>)[k], depth + 1)}`);
    return `{${items.join(',')}${keys.length > 4 ? ',…' : ''}}`;
  };
  const text = walk(value, 0);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function fail(path: string, expected: string, value: unknown): never {
  const got = preview(value);
  throw new InputError(`${path}: expected ${expected}, got ${got}`, { path });
}

/** 64-bit values as "0x…" strings, byte blobs as hex; everything else as JSON has it. */
export function toJson(value: unknown, indent: 2 | 0 = 2): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return `0x${v.toString(16)}`;
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
      return v;
    },
    indent || undefined,
  );
}

export const j = {
  string(): JsonSchema<string> {
    return { describe: 'a string', parse: (v, p) => (typeof v === 'string' ? v : fail(p, 'a string', v)) };
  },
  boolean(): JsonSchema<boolean> {
    return {
      describe: 'true or false',
      parse: (v, p) => (typeof v === 'boolean' ? v : fail(p, 'true or false', v)),
    };
  },
  int(min = 0, max = Number.MAX_SAFE_INTEGER): JsonSchema<number> {
    const d = `an integer in ${min}..${max}`;
    return {
      describe: d,
      parse: (v, p) =>
        typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(p, d, v),
    };
  },
  /** A 32-bit register value: a number or a "0x…" string. */
  u32(): JsonSchema<number> {
    const d = 'a 32-bit value (number or "0x…" string)';
    return {
      describe: d,
      parse: (v, p) => {
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
        if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,8}$/.test(v)) return Number(v);
        return fail(p, d, v);
      },
    };
  },
  /** A 64-bit value written as a "0x…" string (JSON numbers cannot hold 64 bits). */
  u64(): JsonSchema<bigint> {
    const d = 'a 64-bit value as a "0x…" string';
    return {
      describe: d,
      parse: (v, p) => (typeof v === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(v) ? BigInt(v) : fail(p, d, v)),
    };
  },
  literal<const L extends string | number>(value: L): JsonSchema<L> {
    const d = JSON.stringify(value);
    return { describe: d, parse: (v, p) => (v === value ? (v as L) : fail(p, d, v)) };
  },
  /** JSON null becomes undefined, as for a value the source could not provide. */
  nullable<T>(inner: JsonSchema<T>): JsonSchema<T | undefined> {
    return {
      describe: `${inner.describe} or null`,
      parse: (v, p) => (v === null ? undefined : inner.parse(v, p)),
    };
  },
  oneOf<const L extends string>(values: readonly L[]): JsonSchema<L> {
    const d = `one of ${values.map((x) => JSON.stringify(x)).join(', ')}`;
    return { describe: d, parse: (v, p) => (values.includes(v as L) ? (v as L) : fail(p, d, v)) };
  },
  array<T>(item: JsonSchema<T>, opts: { min?: number } = {}): JsonSchema<T[]> {
    const d = `an array of ${item.describe}`;
    return {
      describe: d,
      parse: (v, p) => {
        if (!Array.isArray(v)) return fail(p, d, v);
        if (opts.min !== undefined && v.length < opts.min) fail(p, `at least ${opts.min} entries`, v);
        return v.map((x, i) => item.parse(x, `${p}[${i}]`));
      },
    };
  },
  /** Bytes as a hex string of exactly `length` bytes (what `--json` prints for byte blobs). */
  hex(length?: number): JsonSchema<Uint8Array> {
    const d = length === undefined ? 'a hex string' : `a hex string of ${length} bytes`;
    return {
      describe: d,
      parse: (v, p) => {
        if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(v)) return fail(p, d, v);
        if (length !== undefined && v.length !== 2 * length) return fail(p, d, `${v.length / 2} bytes`);
        return Uint8Array.from(Buffer.from(v, 'hex'));
      },
    };
  },
  /**
   * A value of a struct schema in its JSON form — the inverse of `--json` output: integers wider
   * than 32 bits as "0x…" strings, byte blobs as hex, arrays of exact length, every member present.
   */
  struct<N extends Node>(node: N, model: DataModel): JsonSchema<Infer<N>> {
    return {
      describe: `a ${nodeLabel(node)} value`,
      parse: (v, p) => fromJson(node, model, v, p) as Infer<N>,
    };
  },
  optional<T>(inner: JsonSchema<T>): JsonSchema<T | undefined> & { readonly optional: true } {
    return {
      optional: true,
      describe: `optional ${inner.describe}`,
      parse: (v, p) => (v === undefined ? undefined : inner.parse(v, p)),
    };
  },
  object<S extends Record<string, JsonSchema<unknown>>>(shape: S): JsonSchema<ObjectOf<S>> {
    return {
      describe: 'an object',
      parse: (v, p) => {
        if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, 'an object', v);
        const o = v as Record<string, unknown>;
        for (const k of Object.keys(o)) {
          if (!Object.hasOwn(shape, k))
            throw new InputError(`${p}.${k}: unknown member (allowed: ${Object.keys(shape).join(', ')})`, {
              path: `${p}.${k}`,
            });
        }
        const out: Record<string, unknown> = {};
        for (const [k, s] of Object.entries(shape)) {
          const parsed = s.parse(o[k], `${p}.${k}`);
          if (parsed !== undefined) out[k] = parsed;
        }
        return out as ObjectOf<S>;
      },
    };
  },
};

type OptionalKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type ObjectOf<S extends Record<string, JsonSchema<unknown>>> = {
  [K in Exclude<keyof S, OptionalKeys<S>>]: JsonInfer<S[K]>;
} & { [K in OptionalKeys<S>]?: Exclude<JsonInfer<S[K]>, undefined> };

function nodeLabel(node: Node): string {
  return node.kind === 'struct' ? `struct ${node.name}` : node.kind;
}

function fromJson(node: Node, model: DataModel, v: unknown, p: string): unknown {
  switch (node.kind) {
    case 'int': {
      const size = intSize(node.width, model);
      const wide = typeof node.width === 'string' || size === 8;
      const max = (1n << BigInt(8 * size)) - 1n;
      let big: bigint | undefined;
      if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,16}$/.test(v)) big = BigInt(v);
      else if (typeof v === 'number' && Number.isSafeInteger(v)) big = BigInt(v);
      const lo = node.signed ? -(max + 1n) / 2n : 0n;
      if (big === undefined || big < lo || big > max)
        return fail(p, `a ${8 * size}-bit ${node.signed ? 'signed ' : ''}value (number or "0x…" string)`, v);
      if (node.signed && big > max / 2n) big -= max + 1n;
      return wide ? big : Number(big);
    }
    case 'bytes':
      return j.hex(node.length).parse(v, p);
    case 'array': {
      if (!Array.isArray(v) || v.length !== node.count)
        return fail(p, `an array of ${node.count} entries`, v);
      return v.map((x, i) => fromJson(node.element, model, x, `${p}[${i}]`));
    }
    case 'pad':
      return undefined;
    case 'struct': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail(p, `struct ${node.name}`, v);
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, member] of Object.entries(node.fields)) {
        if (member.kind === 'pad') continue;
        out[k] = fromJson(member, model, o[k], `${p}.${k}`);
      }
      for (const k of Object.keys(o)) {
        if (!(k in node.fields) || node.fields[k]!.kind === 'pad')
          throw new InputError(`${p}.${k}: struct ${node.name} has no member ${k}`, { path: `${p}.${k}` });
      }
      return out;
    }
  }
}
