import { type DataModel, intSize, layoutOf } from './layout.js';
import { memo } from './memo.js';
import type { IntNode, Node, StructNode } from './node.js';

/**
 * A struct flattened to its integer leaves: each scalar member's C path, byte offset and width,
 * for code that reads or writes many instances at constant offsets (the compiled frame reader
 * and writer) — the projection construct's compile() works from beside its interpreter. decode()
 * and encode() stay the reference: test/schema.test.ts holds a reader compiled from this
 * projection to decode() for every struct and data model.
 */
export interface FlatField {
  /** `uc_mcontext.fpstate`, `reserved1[3]`: as locate() and C's offsetof() spell it. */
  readonly path: string;
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
  readonly signed: boolean;
  /** decode() gives this member as a bigint (8 bytes, or a `long`/pointer under any model). */
  readonly bigint: boolean;
}

function leaves(node: Node, model: DataModel, base: number, path: string, out: FlatField[]): void {
  switch (node.kind) {
    case 'int': {
      const n = node as IntNode;
      const size = intSize(n.width, model);
      out.push({
        path,
        offset: base,
        size,
        signed: n.signed,
        bigint: size === 8 || typeof n.width === 'string',
      });
      return;
    }
    case 'array': {
      const step = layoutOf(node.element, model).size;
      for (let i = 0; i < node.count; i++) leaves(node.element, model, base + i * step, `${path}[${i}]`, out);
      return;
    }
    case 'struct':
      for (const f of layoutOf(node, model).fields)
        leaves(f.node, model, base + f.offset, path ? `${path}.${f.name}` : f.name, out);
      return;
    default:
      // bytes and padding have no scalar value.
      return;
  }
}

/** Every integer leaf of `node` under `model`, offsets from the struct's start. */
export const flatten: (node: StructNode, model: DataModel) => readonly FlatField[] = memo(
  (node: StructNode, model: DataModel) => {
    const out: FlatField[] = [];
    leaves(node, model, 0, '', out);
    return out;
  },
  (model) => model.name,
);

/** The struct's own integer members (no nested struct or array elements), by member name. */
export function scalarMembers(node: StructNode, model: DataModel): readonly FlatField[] {
  return flatten(node, model).filter((f) => !/[.[]/.test(f.path));
}

/** The integer leaves by path, for code that sets members by name. */
export const flatByPath: (node: StructNode, model: DataModel) => ReadonlyMap<string, FlatField> = memo(
  (node: StructNode, model: DataModel) => new Map(flatten(node, model).map((f) => [f.path, f])),
  (model) => model.name,
);
