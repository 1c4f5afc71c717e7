/**
 * A decoded value's member by its C path — `uc.uc_mcontext.fpstate`, `states[1].allocate` — the
 * way locate() finds its offset; undefined where a step is missing.
 */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const step of path.split(/\.|(?=\[)/)) {
    if (v === null || v === undefined) return undefined;
    const index = /^\[(\d+)\]$/.exec(step);
    v = index ? (v as unknown[])[Number(index[1])] : (v as Record<string, unknown>)[step];
  }
  return v;
}
