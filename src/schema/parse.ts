import { Parser } from 'binary-parser';
import { DecodeError } from './errors.js';
import { type DataModel, type Layout, layoutOf } from './layout.js';
import { memo } from './memo.js';
import type { Infer, Node } from './node.js';

/**
 * Decoding goes through binary-parser: one compiled Parser per (node, data model), cached, since
 * compiling costs far more than a parse. binary-parser reads unchecked (short input throws a bare
 * RangeError or silently truncates buffers), so decode() checks the length first and reports the
 * first member that would be cut.
 */

const parserFor = memo(
  (node: Node, model: DataModel): Parser => build(node, model),
  (model) => model.name,
);

const toBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const toBigInt = (v: number): bigint => BigInt(v);

function splitBytes(length: number) {
  return (b: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < b.length; i += length) out.push(b.slice(i, i + length));
    return out;
  };
}

function primitive(node: Node, model: DataModel): string | undefined {
  if (node.kind !== 'int') return undefined;
  const size = layoutOf(node, model).size;
  if (size === 1) return node.signed ? 'int8' : 'uint8';
  return `${node.signed ? 'int' : 'uint'}${size * 8}le`;
}

/** A field whose value is a bigint even when the model makes it 4 bytes wide. */
function needsBigInt(node: Node, model: DataModel): boolean {
  return node.kind === 'int' && typeof node.width === 'string' && layoutOf(node, model).size === 4;
}

/** Adds `node` as member `name` of parser `p`. */
function addMember(p: Parser, name: string, node: Node, model: DataModel): void {
  const size = layoutOf(node, model).size;
  switch (node.kind) {
    case 'pad':
      p.seek(size);
      return;
    case 'int': {
      const type = primitive(node, model)!;
      const method = p[type as 'uint8'].bind(p);
      method(name, needsBigInt(node, model) ? { formatter: toBigInt } : {});
      return;
    }
    case 'bytes':
      p.buffer(name, { length: node.length, formatter: toBytes });
      return;
    case 'array': {
      const el = node.element;
      if (el.kind === 'bytes') {
        p.buffer(name, { length: size, formatter: splitBytes(el.length) });
      } else if (el.kind === 'int') {
        const opts: Parameters<Parser['array']>[1] = { type: primitive(el, model)!, length: node.count };
        if (needsBigInt(el, model)) opts.formatter = (a: number[]) => a.map(toBigInt);
        p.array(name, opts);
      } else if (el.kind === 'struct') {
        p.array(name, { type: parserFor(el, model), length: node.count });
      } else {
        // Arrays of arrays: parse each element through a one-member wrapper and unwrap it.
        const wrapper = new Parser().endianness('little');
        addMember(wrapper, 'v', el, model);
        p.array(name, {
          type: wrapper,
          length: node.count,
          formatter: (a: { v: unknown }[]) => a.map((x) => x.v),
        });
      }
      return;
    }
    case 'struct':
      p.nest(name, { type: parserFor(node, model) });
      return;
  }
}

/** The statements binary-parser's root parser adds for context variables, which sigframe never uses. */
const CONTEXT_VARS = [
  'vars.$parent = null;',
  'vars.$root = vars;',
  'delete vars.$parent;',
  'delete vars.$root;',
];

/**
 * binary-parser 2.3.0's root parser sets `vars.$parent` and `vars.$root` and deletes them before
 * it returns (addRawCode in binary_parser.mjs), and a `delete` turns a V8 object into a
 * dictionary: every parse paid some 0.6 µs for it and its result read slowly after. The root is
 * compiled here without those statements; should the generated code differ (another version),
 * binary-parser's own compile() stays, and test/schema.test.ts says so.
 */
function compileLean(p: Parser): Parser {
  const internals = p as unknown as { getContext?: (path: string) => { code: string; imports: unknown[] } };
  const ctx = internals.getContext?.('imports');
  if (!ctx || !CONTEXT_VARS.every((s) => ctx.code.includes(s))) {
    p.compile();
    return p;
  }
  let code = ctx.code;
  for (const s of CONTEXT_VARS) code = code.replace(s, '');
  p.compiled = new Function('imports', 'TextDecoder', `return function (buffer, constructorFn) { ${code} };`)(
    ctx.imports,
    TextDecoder,
  ) as (buffer: Uint8Array, constructorFn?: unknown) => unknown;
  return p;
}

function build(node: Node, model: DataModel): Parser {
  const p = new Parser().endianness('little');
  if (node.kind !== 'struct') {
    addMember(p, 'v', node, model);
    return compileLean(p);
  }
  const layout = layoutOf(node, model);
  let cursor = 0;
  for (const f of layout.fields) {
    if (f.offset > cursor) p.seek(f.offset - cursor);
    addMember(p, f.name, f.node, model);
    cursor = f.offset + f.size;
  }
  if (layout.size > cursor) p.seek(layout.size - cursor);
  return compileLean(p);
}

/** The member path that contains byte `at` of `node` (for error messages). */
export function memberAt(node: Node, model: DataModel, at: number, prefix: string): string {
  if (node.kind === 'struct') {
    const f = layoutOf(node, model).fields.find((x) => at >= x.offset && at < x.offset + x.size);
    if (!f) return `${prefix} (padding)`;
    return memberAt(f.node, model, at - f.offset, `${prefix}.${f.name}`);
  }
  if (node.kind === 'array') {
    const el = layoutOf(node.element, model).size;
    const i = Math.floor(at / el);
    return memberAt(node.element, model, at - i * el, `${prefix}[${i}]`);
  }
  return prefix;
}

export function nodeName(node: Node): string {
  return node.kind === 'struct' ? node.name : node.kind;
}

/**
 * Decodes `node` from `bytes` at `offset`. Throws DecodeError naming the first truncated member
 * and its absolute byte offset when the input is too short.
 */
export function decode<N extends Node>(node: N, model: DataModel, bytes: Uint8Array, offset = 0): Infer<N> {
  const layout: Layout = layoutOf(node, model);
  if (!Number.isInteger(offset) || offset < 0) {
    throw new DecodeError(`${nodeName(node)}: offset ${offset} is not a byte offset`, { offset });
  }
  const available = bytes.length - offset;
  if (available < layout.size) {
    const first = Math.max(0, available);
    const member = memberAt(node, model, first, nodeName(node));
    throw new DecodeError(
      `${member}: input ends at byte ${bytes.length}, but ${nodeName(node)} needs ${layout.size} bytes from offset ${offset} (member at offset ${offset + first})`,
      { path: member, offset: offset + first },
    );
  }
  const view =
    offset === 0 && bytes.length === layout.size ? bytes : bytes.subarray(offset, offset + layout.size);
  const parsed = parserFor(node, model).parse(view) as Record<string, unknown>;
  return (node.kind === 'struct' ? parsed : parsed.v) as Infer<N>;
}
