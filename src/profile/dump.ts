import { basename } from 'node:path';
import type { DumpFormat } from '../cpuid/parse.js';
import { parseDump } from '../cpuid/parse.js';
import { type Cpuid, recordKey } from '../cpuid/records.js';
import { InputError } from '../schema/errors.js';
import { requireConsistent } from './checks.js';
import {
  PROFILE_FORMAT,
  type Profile,
  type ProfileFile,
  profileFromFile,
  profileFromJson,
} from './profile.js';

/** The leaves a profile keeps: vendor, the flags the kernel gates XSAVE features on, leaf 0xD, brand. */
const PROFILE_LEAVES = new Set([
  0x0, 0x1, 0x7, 0xd, 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004,
]);

export function profileRecords(cpuid: Cpuid): ProfileFile['cpuid'] {
  return cpuid.records.filter((r) => PROFILE_LEAVES.has(r.leaf));
}

const SOURCE_KIND: Record<DumpFormat, ProfileFile['source']['kind']> = {
  json: 'json',
  'cpuid-r': 'cpuid-r',
  aida64: 'aida64',
};

/**
 * Wraps a raw CPUID dump (any format parseDump reads) as a profile, or reads a profile file given
 * as text. Either must pass the consistency gate (src/profile/checks.ts): an error names the
 * file and, for a dump, the line of each record it is about.
 */
/**
 * The most text a CPUID dump or profile can be: every leaf of a large server is well under 1 MiB.
 * The parser refuses more before it splits or parses anything, whoever calls it.
 */
export const MAX_DUMP_TEXT = 4 << 20;

export function profileFromDump(text: string, where: string): Profile {
  if (text.length > MAX_DUMP_TEXT) {
    throw new InputError(
      `${where}: ${text.length} characters, more than a CPUID dump or profile can be (limit ${MAX_DUMP_TEXT})`,
      { path: where },
    );
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const value = (() => {
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw new InputError(`${where}: not valid JSON (${(e as Error).message})`, { path: where });
      }
    })();
    if (
      typeof value === 'object' &&
      value !== null &&
      (value as { format?: unknown }).format === PROFILE_FORMAT
    ) {
      return profileFromJson(value, where);
    }
  }
  const dump = parseDump(text, where);
  const name = basename(where)
    .replace(/\.[^.]*$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const p = profileFromFile({
    format: PROFILE_FORMAT,
    name: name || 'dump',
    title: dump.cpuid.brand() ?? basename(where),
    source: {
      kind: SOURCE_KIND[dump.format],
      cite: where,
      ...(dump.warnings.length ? { notes: [...dump.warnings] } : {}),
    },
    cpuid: profileRecords(dump.cpuid),
  });
  requireConsistent(p, { where, locate: (r) => dump.locations.get(recordKey(r.leaf, r.subleaf)) });
  return p;
}
