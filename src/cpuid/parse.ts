import { InputError } from '../schema/errors.js';
import { preview } from '../schema/json.js';
import { Cpuid, type CpuidRecord, hex32, recordKey } from './records.js';

export type DumpFormat = 'json' | 'cpuid-r' | 'aida64';

export interface ParsedDump {
  readonly format: DumpFormat;
  readonly cpuid: Cpuid;
  /** Logical CPUs found in the dump; records are taken from the first. */
  readonly cpus: number;
  readonly warnings: readonly string[];
  /**
   * Where each record of `cpuid` is in the text, by recordKey(leaf, subleaf): "line 21" in a
   * text dump, a JSON path ("$[3]", "$.cpuid[3]") in a JSON one — for errors about a record.
   */
  readonly locations: ReadonlyMap<string, string>;
}

/** A record and where the input holds it. */
interface Located {
  readonly r: CpuidRecord;
  /** 1-based line of a text dump. */
  readonly line?: number;
  /** JSON path in a JSON dump. */
  readonly path?: string;
}

const atText = (l: Located) => (l.line !== undefined ? `line ${l.line}` : l.path!);
const errorPrefix = (name: string, l: Located) =>
  l.line !== undefined ? `${name}:${l.line}` : `${name}: ${l.path}`;
const leafName = (r: CpuidRecord) => `CPUID.(0x${r.leaf.toString(16).toUpperCase()},${r.subleaf})`;
const registers = (r: CpuidRecord) =>
  `eax=${hex32(r.eax)} ebx=${hex32(r.ebx)} ecx=${hex32(r.ecx)} edx=${hex32(r.edx)}`;

/**
 * Reads raw CPUID from any of the formats people actually have:
 *  - JSON: an array of `{leaf, subleaf, eax, ebx, ecx, edx}` (numbers or "0x…" strings) or of
 *    `[leaf, subleaf, eax, ebx, ecx, edx]` tuples, or an object with such an array under `cpuid`
 *    (a sigframe profile file);
 *  - the `cpuid -r` tool: `   0x0000000d 0x00: eax=0x… ebx=0x… ecx=0x… edx=0x…`;
 *  - AIDA64 / InstLatx64: `CPUID 0000000D: EAX-EBX-ECX-EDX [SL 01]`, where subleaves are either
 *    marked `[SL nn]` (hex) or, in older dumps, implied by the order of repeated lines.
 */
export function parseDump(text: string, name = 'input'): ParsedDump {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseJson(text, name);
  const lines = text.split(/\r?\n/);
  if (lines.some((l) => CPUID_R.test(l))) return parseCpuidR(lines, name);
  if (lines.some((l) => AIDA_PREFIX.test(l))) return parseAida(lines, name);
  throw new InputError(
    `${name}: no CPUID records found; expected JSON records, \`cpuid -r\` output or an AIDA64/InstLatx64 dump (lines like "CPUID 0000000D: 000002E7-00000A80-00000A88-00000000 [SL 00]")`,
    { path: name },
  );
}

// ---- JSON -------------------------------------------------------------------------------------

function u32From(v: unknown, where: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  if (typeof v === 'string' && /^(0x[0-9a-fA-F]{1,8}|\d+)$/.test(v)) {
    const n = Number(v);
    if (n <= 0xffffffff) return n;
  }
  throw new InputError(`${where}: expected a 32-bit value (number or "0x…" string), got ${preview(v)}`, {
    path: where,
  });
}

export function recordsFromJson(value: unknown, where: string): CpuidRecord[] {
  if (!Array.isArray(value))
    throw new InputError(`${where}: expected an array of CPUID records`, { path: where });
  return value.map((item, i) => {
    const at = `${where}[${i}]`;
    if (Array.isArray(item)) {
      if (item.length !== 6) {
        throw new InputError(
          `${at}: expected [leaf, subleaf, eax, ebx, ecx, edx], got ${item.length} values`,
          {
            path: at,
          },
        );
      }
      const [leaf, subleaf, eax, ebx, ecx, edx] = item.map((x, k) => u32From(x, `${at}[${k}]`));
      return { leaf: leaf!, subleaf: subleaf!, eax: eax!, ebx: ebx!, ecx: ecx!, edx: edx! };
    }
    if (typeof item !== 'object' || item === null) {
      throw new InputError(`${at}: expected a record {leaf, subleaf, eax, ebx, ecx, edx}`, { path: at });
    }
    const o = item as Record<string, unknown>;
    for (const k of ['leaf', 'eax', 'ebx', 'ecx', 'edx']) {
      if (!(k in o)) throw new InputError(`${at}.${k}: missing`, { path: `${at}.${k}` });
    }
    return {
      leaf: u32From(o.leaf, `${at}.leaf`),
      subleaf: o.subleaf === undefined ? 0 : u32From(o.subleaf, `${at}.subleaf`),
      eax: u32From(o.eax, `${at}.eax`),
      ebx: u32From(o.ebx, `${at}.ebx`),
      ecx: u32From(o.ecx, `${at}.ecx`),
      edx: u32From(o.edx, `${at}.edx`),
    };
  });
}

function parseJson(text: string, name: string): ParsedDump {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`${name}: not valid JSON (${(e as Error).message})`, { path: name });
  }
  const nested = !Array.isArray(value) && typeof value === 'object' && value !== null && 'cpuid' in value;
  const base = nested ? '$.cpuid' : '$';
  const list = nested
    ? recordsFromJson((value as { cpuid: unknown }).cpuid, `${name}: $.cpuid`)
    : recordsFromJson(value, `${name}: $`);
  return fromBlocks('json', [list.map((r, i) => ({ r, path: `${base}[${i}]` }))], name);
}

// ---- cpuid -r ---------------------------------------------------------------------------------

const CPUID_R = /^\s*0x[0-9a-fA-F]{8}\s+0x[0-9a-fA-F]{2,8}:\s*eax=/;
const CPUID_R_LINE =
  /^\s*0x([0-9a-fA-F]{8})\s+0x([0-9a-fA-F]{2,8}):\s*eax=0x([0-9a-fA-F]{8})\s+ebx=0x([0-9a-fA-F]{8})\s+ecx=0x([0-9a-fA-F]{8})\s+edx=0x([0-9a-fA-F]{8})\s*$/;

function parseCpuidR(lines: string[], name: string): ParsedDump {
  const blocks: Located[][] = [];
  let current: Located[] | undefined;
  lines.forEach((line, i) => {
    if (/^\s*CPU(\s+\d+)?:\s*$/.test(line)) {
      current = [];
      blocks.push(current);
      return;
    }
    if (!/^\s*0x[0-9a-fA-F]{8}\s/.test(line)) return;
    const m = CPUID_R_LINE.exec(line);
    if (!m) {
      throw new InputError(
        `${name}:${i + 1}: expected "0xLLLLLLLL 0xSS: eax=0x… ebx=0x… ecx=0x… edx=0x…", got "${line.trim()}"`,
        { path: `${name}:${i + 1}` },
      );
    }
    if (!current) {
      current = [];
      blocks.push(current);
    }
    const [leaf, subleaf, eax, ebx, ecx, edx] = m.slice(1).map((h) => Number.parseInt(h, 16));
    current.push({
      r: { leaf: leaf!, subleaf: subleaf!, eax: eax!, ebx: ebx!, ecx: ecx!, edx: edx! },
      line: i + 1,
    });
  });
  return fromBlocks('cpuid-r', blocks, name);
}

// ---- AIDA64 / InstLatx64 ----------------------------------------------------------------------

const AIDA_PREFIX = /^CPUID [0-9A-Fa-f]{8}:/;
const AIDA_LINE =
  /^CPUID ([0-9A-Fa-f]{8}):\s+([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})\s*(?:\[SL ([0-9A-Fa-f]{1,2})\])?/;

function parseAida(lines: string[], name: string): ParsedDump {
  const blocks: Located[][] = [];
  let current: Located[] = [];
  // Older dumps list subleaves without [SL nn]: the n-th line of a leaf is subleaf n.
  let implicit = new Map<number, number>();
  lines.forEach((line, i) => {
    if (!AIDA_PREFIX.test(line)) return;
    const m = AIDA_LINE.exec(line);
    if (!m) {
      throw new InputError(
        `${name}:${i + 1}: expected "CPUID LLLLLLLL: EAX-EBX-ECX-EDX [SL nn]", got "${line.trim()}"`,
        {
          path: `${name}:${i + 1}`,
        },
      );
    }
    const [leaf, eax, ebx, ecx, edx] = m.slice(1, 6).map((h) => Number.parseInt(h!, 16));
    if (leaf === 0 && current.length > 0) {
      blocks.push(current);
      current = [];
      implicit = new Map();
    }
    const seq = implicit.get(leaf!) ?? 0;
    implicit.set(leaf!, seq + 1);
    const subleaf = m[6] === undefined ? seq : Number.parseInt(m[6], 16);
    current.push({ r: { leaf: leaf!, subleaf, eax: eax!, ebx: ebx!, ecx: ecx!, edx: edx! }, line: i + 1 });
  });
  if (current.length > 0) blocks.push(current);
  return fromBlocks('aida64', blocks, name);
}

function fromBlocks(format: DumpFormat, blocks: Located[][], name: string): ParsedDump {
  const nonEmpty = blocks.filter((b) => b.length > 0);
  if (nonEmpty.length === 0) throw new InputError(`${name}: no CPUID records found`, { path: name });
  const first = nonEmpty[0]!;
  const warnings: string[] = [];
  const leafD = (b: Located[]) =>
    JSON.stringify(b.filter((l) => l.r.leaf === 0xd).map(({ r }) => [r.subleaf, r.eax, r.ebx, r.ecx, r.edx]));
  const reference = leafD(first);
  nonEmpty.slice(1).forEach((b, k) => {
    if (leafD(b) !== reference) {
      warnings.push(`logical CPU #${k + 1} reports a different leaf 0xD than CPU #0; using CPU #0`);
    }
  });
  // One CPU answers one (leaf, subleaf) once: a second answer that differs leaves no way to tell
  // which one the CPU gave; the same answer twice is only repetition.
  const seen = new Map<string, Located>();
  for (const l of first) {
    const key = recordKey(l.r.leaf, l.r.subleaf);
    const before = seen.get(key);
    if (!before) {
      seen.set(key, l);
      continue;
    }
    if (registers(before.r) === registers(l.r)) {
      warnings.push(`${atText(l)} repeats ${leafName(l.r)} of ${atText(before)} with the same values`);
      continue;
    }
    throw new InputError(
      `${errorPrefix(name, l)}: ${leafName(l.r)} is given twice with different values: ${atText(before)} has ${registers(before.r)}, ${atText(l)} has ${registers(l.r)}; which one the CPU returned cannot be told`,
      { path: errorPrefix(name, l) },
    );
  }
  return {
    format,
    cpuid: new Cpuid([...seen.values()].map((l) => l.r)),
    cpus: nonEmpty.length,
    warnings,
    locations: new Map([...seen].map(([k, l]) => [k, atText(l)])),
  };
}
