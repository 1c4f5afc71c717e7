import { type DataModel, layoutOf } from './layout.js';
import type { Node, StructNode } from './node.js';

/** A struct's layout as data: what `sigframe layout --struct` prints and the docs are made from. */
export interface FieldDescription {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly type: string;
  readonly fields?: readonly FieldDescription[];
}

export interface StructDescription {
  readonly name: string;
  readonly size: number;
  readonly align: number;
  readonly model: string;
  readonly source?: string;
  readonly fields: readonly FieldDescription[];
}

export function typeName(node: Node, model: DataModel): string {
  switch (node.kind) {
    case 'int':
      return node.ctype;
    case 'bytes':
      return `u8[${node.length}]`;
    case 'pad':
      return `pad[${node.length}]`;
    case 'array':
      return `${typeName(node.element, model)}[${node.count}]`;
    case 'struct':
      return `struct ${node.name}`;
  }
}

function describeFields(node: StructNode, model: DataModel): FieldDescription[] {
  return layoutOf(node, model).fields.map((f) => {
    const inner =
      f.node.kind === 'struct'
        ? f.node
        : f.node.kind === 'array' && f.node.element.kind === 'struct'
          ? f.node.element
          : undefined;
    const base = { name: f.name, offset: f.offset, size: f.size, type: typeName(f.node, model) };
    return inner && f.node.kind === 'struct' ? { ...base, fields: describeFields(inner, model) } : base;
  });
}

export function describe(node: StructNode, model: DataModel): StructDescription {
  const l = layoutOf(node, model);
  return {
    name: node.name,
    size: l.size,
    align: l.align,
    model: model.name,
    ...(node.doc.source ? { source: node.doc.source } : {}),
    fields: describeFields(node, model),
  };
}

/** Flattens nested members to dotted names with absolute offsets (for tables). */
export function flatten(
  fields: readonly FieldDescription[],
  prefix = '',
  base = 0,
): { name: string; offset: number; size: number; type: string; depth: number }[] {
  return fields.flatMap((f) => {
    const row = {
      name: prefix + f.name,
      offset: base + f.offset,
      size: f.size,
      type: f.type,
      depth: prefix.split('.').length - 1,
    };
    return f.fields ? [row, ...flatten(f.fields, `${prefix}${f.name}.`, base + f.offset)] : [row];
  });
}
