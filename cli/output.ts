/** Rendering helpers shared by the commands: JSON with sigframe's conventions, and text tables. */

/** 64-bit values as "0x…" strings, byte blobs as hex; everything else as JSON has it. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return `0x${v.toString(16)}`;
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
      return v;
    },
    2,
  );
}

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
