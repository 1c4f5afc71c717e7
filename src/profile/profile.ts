import { Cpuid, type CpuidRecord, hex32, recordKey } from '../cpuid/records.js';
import { InputError } from '../schema/errors.js';
import { type JsonInfer, j } from '../schema/json.js';
import { readXsaveEnumeration, type XsaveEnumeration } from '../xsave/enumeration.js';
import { requireConsistent } from './checks.js';

/**
 * A CPU profile: the raw CPUID a Linux kernel would see (leaf 0xD plus the leaf 1 / leaf 7 flags
 * it consults), where it came from, and — when known — the XCR0/XSS in force when it was taken.
 * Everything else (vendor, model, layouts, what Linux enables) is derived from the records, so a
 * profile file states each fact once. The file format is the schema below; `sigframe profiles
 * --from-host` and `--from-dump` write it.
 */
const record = j.object({
  leaf: j.u32(),
  subleaf: j.u32(),
  eax: j.u32(),
  ebx: j.u32(),
  ecx: j.u32(),
  edx: j.u32(),
});

export const PROFILE_FORMAT = 'sigframe-profile/1';

export const profileFileSchema = j.object({
  format: j.literal(PROFILE_FORMAT),
  name: j.string(),
  title: j.string(),
  synthetic: j.optional(j.boolean()),
  source: j.object({
    kind: j.oneOf([
      'probe',
      'aida64',
      'cpuid-r',
      'json',
      'rust-cpuid',
      'virtualbox',
      'reference',
      'synthetic',
    ]),
    cite: j.string(),
    url: j.optional(j.string()),
    notes: j.optional(j.array(j.string())),
  }),
  /** XCR0 (and IA32_XSS) of the OS that executed CPUID: CPUID.(0xD,0).EBX and (0xD,1).EBX depend on them. */
  capture: j.optional(
    j.object({
      os: j.string(),
      xcr0: j.u64(),
      xss: j.optional(j.u64()),
      /** FXSAVE's MXCSR_MASK on that machine: the MXCSR bits XRSTOR and the kernel accept. */
      mxcsr_mask: j.optional(j.u32()),
      basis: j.string(),
    }),
  ),
  /** What a live kernel reported on this CPU, for regression checks on machines that lack it. */
  observed: j.optional(
    j.object({
      kernel: j.string(),
      at_minsigstksz: j.optional(j.int()),
      xcomp_supp: j.optional(j.u64()),
      basis: j.string(),
    }),
  ),
  cpuid: j.array(record, { min: 1 }),
  /** Records the source lacks, added by hand with the reason (never silently). */
  supplements: j.optional(j.array(j.object({ record, why: j.string() }))),
});

export type ProfileFile = JsonInfer<typeof profileFileSchema>;

/**
 * Where a profile came from. Only `host` means the machine sigframe runs on: a file is a
 * recording of some machine, whatever its `name` says, so nothing live is compared with it.
 */
export type ProfileOrigin = 'host' | 'shipped' | 'file';

export interface Profile {
  readonly file: ProfileFile;
  readonly name: string;
  readonly origin: ProfileOrigin;
  readonly cpuid: Cpuid;
  readonly xsave: XsaveEnumeration;
}

const NAME = /^[a-z0-9][a-z0-9.-]*$/;

export function profileFromFile(file: ProfileFile, origin: ProfileOrigin = 'file'): Profile {
  if (!NAME.test(file.name)) {
    throw new InputError(`$.name: '${file.name}' must be lower-case letters, digits, '.' and '-'`, {
      path: '$.name',
    });
  }
  const records: CpuidRecord[] = [...file.cpuid, ...(file.supplements ?? []).map((s) => s.record)];
  const seen = new Map<string, string>();
  records.forEach((r, i) => {
    const key = recordKey(r.leaf, r.subleaf);
    const at = recordPath(file, i);
    const before = seen.get(key);
    if (before !== undefined) {
      throw new InputError(
        `${at}: leaf 0x${r.leaf.toString(16)} subleaf ${r.subleaf} is given twice (also ${before}); a profile states each record once`,
        { path: at },
      );
    }
    seen.set(key, at);
  });
  const cpuid = new Cpuid(records);
  return { file, name: file.name, origin, cpuid, xsave: readXsaveEnumeration(cpuid) };
}

/** The JSON path of the i-th record of a profile file: its cpuid records, then its supplements. */
function recordPath(file: ProfileFile, i: number): string {
  return i < file.cpuid.length ? `$.cpuid[${i}]` : `$.supplements[${i - file.cpuid.length}].record`;
}

/**
 * Validates parsed JSON as a profile file; `where` names the file in errors. The CPUID it holds
 * must pass the consistency gate (src/profile/checks.ts), errors naming each record's JSON path.
 */
export function profileFromJson(value: unknown, where: string, origin: ProfileOrigin = 'file'): Profile {
  let p: Profile;
  try {
    p = profileFromFile(profileFileSchema.parse(value, '$'), origin);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(`${where}: ${e.message}`, e.where);
    throw e;
  }
  const paths = new Map<string, string>();
  [...p.file.cpuid, ...(p.file.supplements ?? []).map((s) => s.record)].forEach((r, i) => {
    paths.set(recordKey(r.leaf, r.subleaf), recordPath(p.file, i));
  });
  requireConsistent(p, { where, locate: (r) => paths.get(recordKey(r.leaf, r.subleaf)) });
  return p;
}

const hexRecord = (r: CpuidRecord) => ({
  leaf: `0x${r.leaf.toString(16)}`,
  subleaf: r.subleaf,
  eax: hex32(r.eax),
  ebx: hex32(r.ebx),
  ecx: hex32(r.ecx),
  edx: hex32(r.edx),
});

/** The file text of a profile: pretty JSON with one CPUID record per line. */
export function formatProfile(file: ProfileFile): string {
  const compact = new Map<string, string>();
  const text = JSON.stringify(
    serializeProfile(file),
    (_key, value: unknown) => {
      if (typeof value === 'object' && value !== null && 'leaf' in value && 'eax' in value) {
        const token = `@record${compact.size}@`;
        compact.set(token, JSON.stringify(value).replace(/,"/g, ', "').replace(/":/g, '": '));
        return token;
      }
      return value;
    },
    2,
  );
  return `${text.replace(/"@record\d+@"/g, (m) => compact.get(m.slice(1, -1))!)}\n`;
}

/** The file form of a profile: registers as "0x…" strings, 64-bit masks as "0x…" strings. */
export function serializeProfile(file: ProfileFile): unknown {
  const hex64 = (v: bigint) => `0x${v.toString(16)}`;
  return {
    ...file,
    ...(file.capture
      ? {
          capture: {
            ...file.capture,
            xcr0: hex64(file.capture.xcr0),
            ...(file.capture.xss === undefined ? {} : { xss: hex64(file.capture.xss) }),
            ...(file.capture.mxcsr_mask === undefined ? {} : { mxcsr_mask: hex32(file.capture.mxcsr_mask) }),
          },
        }
      : {}),
    ...(file.observed?.xcomp_supp !== undefined
      ? { observed: { ...file.observed, xcomp_supp: hex64(file.observed.xcomp_supp) } }
      : {}),
    cpuid: file.cpuid.map(hexRecord),
    ...(file.supplements
      ? { supplements: file.supplements.map((s) => ({ record: hexRecord(s.record), why: s.why })) }
      : {}),
  };
}
