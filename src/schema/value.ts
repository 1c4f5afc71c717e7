/** Member paths parsed once: `states[1].allocate` → ['states', 1, 'allocate']. */
const parsed = new Map<string, readonly (string | number)[]>();

function steps(path: string): readonly (string | number)[] {
  let s = parsed.get(path);
  if (!s) {
    s = path.split(/\.|(?=\[)/).map((step) => {
      const index = /^\[(\d+)\]$/.exec(step);
      return index ? Number(index[1]) : step;
    });
    parsed.set(path, s);
  }
  return s;
}

/**
 * A decoded value's member by its C path — `uc.uc_mcontext.fpstate`, `states[1].allocate` — the
 * way locate() finds its offset; undefined where a step is missing.
 */
export function valueAt(root: unknown, path: string): unknown {
  let v: unknown = root;
  for (const step of steps(path)) {
    if (v === null || v === undefined) return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}
