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

export function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
