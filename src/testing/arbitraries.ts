import fc from 'fast-check';
import { type DataModel, intSize } from '../schema/layout.js';
import type { Infer, Node } from '../schema/node.js';

/**
 * fast-check arbitraries derived from schemas: any value a struct can hold, so properties such as
 * decode(encode(x)) = x run over every schema without per-struct generators.
 */
export function arbitraryOf<N extends Node>(node: N, model: DataModel): fc.Arbitrary<Infer<N>> {
  return build(node, model) as fc.Arbitrary<Infer<N>>;
}

function build(node: Node, model: DataModel): fc.Arbitrary<unknown> {
  switch (node.kind) {
    case 'int': {
      const size = intSize(node.width, model);
      if (size === 8 || typeof node.width === 'string') {
        const bits = BigInt(size * 8);
        return node.signed
          ? fc.bigInt({ min: -(1n << (bits - 1n)), max: (1n << (bits - 1n)) - 1n })
          : fc.bigInt({ min: 0n, max: (1n << bits) - 1n });
      }
      const bits = size * 8;
      return node.signed
        ? fc.integer({ min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 })
        : fc.integer({ min: 0, max: 2 ** bits - 1 });
    }
    case 'bytes':
      return fc.uint8Array({ minLength: node.length, maxLength: node.length });
    case 'pad':
      return fc.constant(undefined);
    case 'array':
      return fc.array(build(node.element, model), { minLength: node.count, maxLength: node.count });
    case 'struct': {
      const shape: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, member] of Object.entries(node.fields)) {
        if (member.kind !== 'pad') shape[name] = build(member, model);
      }
      return fc.record(shape, { noNullPrototype: true });
    }
  }
}
