/** Rendering helpers shared by the commands: JSON with sigframe's conventions, and text tables. */

export { toJson } from '../src/schema/json.js';

export function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

export type Align = 'l' | 'r';

/** A plain text table; columns are left-aligned unless marked 'r'. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  align: readonly Align[] = [],
): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

let json = false;
let wrote = false;

/** Whether the command runs with --json (run() sets it; errors then also go to stdout as JSON). */
export function jsonMode(): boolean {
  return json;
}

export function setJsonMode(on: boolean): void {
  json = on;
}

/** Whether anything went to stdout yet: under --json, that is the one object. */
export function printed(): boolean {
  return wrote;
}

export function print(text: string): void {
  wrote = true;
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * A value for JSON with every `registers` object in it (a frame's, a core thread's XSAVE state's)
 * holding "0x…" strings only: the library's Registers has mxcsr and pkru as numbers, beside
 * vector registers that toJson already writes as "0x…".
 */
export function hexRegisters<T>(value: T): T {
  const walk = (v: unknown, registers: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, false));
    if (v === null || typeof v !== 'object') return v;
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      // A decoded frame is a class instance whose JSON is its toJSON(); Uint8Array and the like stay.
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      return typeof toJSON === 'function' ? walk(toJSON.call(v), registers) : v;
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = registers && typeof x === 'number' ? hex(x >>> 0) : walk(x, k === 'registers');
    }
    return out;
  };
  return walk(value, false) as T;
}
