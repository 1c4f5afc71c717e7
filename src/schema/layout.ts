import { SchemaError } from './errors.js';
import { memo } from './memo.js';
import type { Node, StructNode } from './node.js';

/**
 * A C data model: what the compiler that built a struct thought `long`, a pointer and a 64-bit
 * integer were. The same uapi struct has different alignment under each (a struct holding a __u64
 * is 8-aligned on x86-64 and x32 but 4-aligned on i386), which is why sigframe_ia32 is 736 bytes
 * when the 64-bit kernel compiles it and 732 when an i386 kernel does.
 */
export interface DataModel {
  readonly name: string;
  readonly pointer: 4 | 8;
  readonly long: 4 | 8;
  readonly u64Align: 4 | 8;
}

export interface FieldLayout {
  readonly name: string;
  readonly node: Node;
  readonly offset: number;
  readonly size: number;
  readonly align: number;
}

export interface Layout {
  readonly size: number;
  readonly align: number;
  /** Struct members in declaration order (padding fields included, marked by node.kind). */
  readonly fields: readonly FieldLayout[];
}

export const layoutOf: (node: Node, model: DataModel) => Layout = memo(
  (node: Node, model: DataModel) => compute(node, model),
  (model) => model.name,
);

export function intSize(width: 1 | 2 | 4 | 8 | 'long' | 'pointer', model: DataModel): 1 | 2 | 4 | 8 {
  if (width === 'long') return model.long;
  if (width === 'pointer') return model.pointer;
  return width;
}

function compute(node: Node, model: DataModel): Layout {
  switch (node.kind) {
    case 'int': {
      const size = intSize(node.width, model);
      return { size, align: size === 8 ? model.u64Align : size, fields: [] };
    }
    case 'bytes':
      return { size: node.length, align: node.align, fields: [] };
    case 'pad':
      return { size: node.length, align: 1, fields: [] };
    case 'array': {
      const element = layoutOf(node.element, model);
      return { size: element.size * node.count, align: element.align, fields: [] };
    }
    case 'struct': {
      // C rules: each member at the next multiple of its alignment; the struct is aligned to its
      // strictest member and padded at the tail to a multiple of that.
      let offset = 0;
      let align = 1;
      const fields: FieldLayout[] = [];
      for (const [name, member] of Object.entries(node.fields)) {
        const m = layoutOf(member, model);
        offset = roundUp(offset, m.align);
        fields.push({ name, node: member, offset, size: m.size, align: m.align });
        offset += m.size;
        align = Math.max(align, m.align);
      }
      return { size: roundUp(offset, align), align, fields };
    }
  }
}

export function roundUp(value: number, align: number): number {
  return Math.ceil(value / align) * align;
}

export function sizeOf(node: Node, model: DataModel): number {
  return layoutOf(node, model).size;
}

export interface Located {
  readonly offset: number;
  readonly size: number;
  readonly node: Node;
}

/**
 * Offset of a member path such as `uc_mcontext.fpstate` or `xmm_space[3]`, like C's offsetof.
 */
export const locate: (root: StructNode, model: DataModel, path: string) => Located = memo(
  (root: StructNode, model: DataModel, path: string) => locatePath(root, model, path),
  (model, path) => `${model.name}|${path}`,
);

function locatePath(root: StructNode, model: DataModel, path: string): Located {
  let node: Node = root;
  let offset = 0;
  for (const part of path.split('.')) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new SchemaError(`bad member path '${path}'`, { path });
    if (node.kind !== 'struct')
      throw new SchemaError(`'${part}' is not inside a struct in '${path}'`, { path });
    const field: FieldLayout | undefined = layoutOf(node, model).fields.find((f) => f.name === m[1]);
    if (!field) throw new SchemaError(`struct ${node.name} has no member '${m[1]}'`, { path });
    offset += field.offset;
    node = field.node;
    for (const idx of m[2]!.match(/\d+/g) ?? []) {
      if (node.kind !== 'array') throw new SchemaError(`'${m[1]}' is not an array in '${path}'`, { path });
      const i = Number(idx);
      if (i >= node.count)
        throw new SchemaError(`index ${i} out of range 0..${node.count - 1} in '${path}'`, { path });
      offset += i * sizeOf(node.element, model);
      node = node.element;
    }
  }
  return { offset, size: sizeOf(node, model), node };
}

export function offsetOf(root: StructNode, model: DataModel, path: string): number {
  return locate(root, model, path).offset;
}
