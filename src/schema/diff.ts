/** One field that differs between two values, with both sides rendered as `--json` shows them. */
export interface FieldDiff {
  readonly path: string;
  readonly a: string;
  readonly b: string;
}

function render(v: unknown): string {
  if (v === undefined) return '(absent)';
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return JSON.stringify(v);
}

function leaves(v: unknown, path: string, out: Map<string, unknown>): void {
  if (v instanceof Uint8Array || typeof v !== 'object' || v === null) {
    out.set(path, v);
    return;
  }
  if (Array.isArray(v)) for (const [i, x] of v.entries()) leaves(x, `${path}[${i}]`, out);
  else for (const [k, x] of Object.entries(v)) leaves(x, path ? `${path}.${k}` : k, out);
}

/** Every leaf (register, field, byte blob) whose value differs, by path, in path order. */
export function diffValues(a: unknown, b: unknown): FieldDiff[] {
  const la = new Map<string, unknown>();
  const lb = new Map<string, unknown>();
  leaves(a, '', la);
  leaves(b, '', lb);
  const paths = [...new Set([...la.keys(), ...lb.keys()])];
  return paths
    .map((path) => ({ path, a: render(la.get(path)), b: render(lb.get(path)) }))
    .filter((d) => d.a !== d.b);
}
