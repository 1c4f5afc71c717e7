import { type DataModel, layoutOf } from './layout.js';
import type { StructNode } from './node.js';

/**
 * C static assertions generated from a schema, so the C compiler checks our layouts against the
 * installed uapi headers (and users can paste them into their own builds). Only structs that
 * declare a uapi spelling get assertions; members listed in `except` are checked for offset only.
 */
export interface CheckOptions {
  /** C type spelling, e.g. `struct sigcontext_64` or `stack_t`. */
  readonly ctype: string;
  /** Member names whose size (and thus the struct size) differs from the uapi on purpose. */
  readonly except?: readonly string[];
  /** Check sizeof/alignof of the whole struct even with `except` members (default: only without). */
  readonly sameSize?: boolean;
  /**
   * The member of `ctype` the struct starts at: offsets become offsetof(ctype, m) −
   * offsetof(ctype, base). Default: the struct's uapi spelling's, when `ctype` is that spelling's.
   */
  readonly base?: string;
  /**
   * Some members of `ctype` only: no sizeof/alignof of the whole, and `_`-prefixed placeholder
   * members are skipped. Default as for `base`.
   */
  readonly view?: boolean;
}

export function cAsserts(node: StructNode, model: DataModel, opts: CheckOptions): string[] {
  const out: string[] = [];
  const except = new Set(opts.except ?? []);
  const tag = (what: string) => JSON.stringify(`${node.name}/${model.name}: ${what}`);
  const layout = layoutOf(node, model);
  const spelled = node.doc.uapi?.ctype === opts.ctype ? node.doc.uapi : undefined;
  const base = opts.base ?? spelled?.base;
  const view = opts.view ?? spelled?.view ?? false;
  const offsetOf = (member: string) =>
    base === undefined
      ? `offsetof(${opts.ctype}, ${member})`
      : `offsetof(${opts.ctype}, ${member}) - offsetof(${opts.ctype}, ${base})`;
  const offsetTag = (member: string) =>
    base === undefined ? `offsetof(${member})` : `offsetof(${member}) - offsetof(${base})`;
  if (!view && (except.size === 0 || opts.sameSize)) {
    out.push(`_Static_assert(sizeof(${opts.ctype}) == ${layout.size}, ${tag(`sizeof == ${layout.size}`)});`);
    out.push(
      `_Static_assert(_Alignof(${opts.ctype}) == ${layout.align}, ${tag(`alignof == ${layout.align}`)});`,
    );
  }
  // Members only, not their members: a nested struct has its own uapi spelling and is checked by
  // itself (the x86-64 uapi `struct sigcontext` inside ucontext even uses other member names).
  for (const f of layout.fields) {
    if (f.node.kind === 'pad') continue;
    if (view && f.name.startsWith('_')) continue;
    const member = f.name;
    const offset = f.offset;
    out.push(
      `_Static_assert(${offsetOf(member)} == ${offset}, ${tag(`${offsetTag(member)} == ${offset}`)});`,
    );
    if (!except.has(member)) {
      out.push(
        `_Static_assert(sizeof(((${opts.ctype} *)0)->${member}) == ${f.size}, ${tag(`sizeof(${member}) == ${f.size}`)});`,
      );
    }
  }
  return out;
}
