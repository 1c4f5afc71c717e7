import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { InputError } from '../schema/errors.js';
import { FIRST_EXTENDED_XFEATURE, XSAVE_EXTENDED_START } from '../xsave/catalog.js';
import type { Finding, RecordRef, XsaveComponent } from '../xsave/enumeration.js';
import { layoutProblem, xstateSizeOf } from '../xsave/layout.js';
import type { Profile } from './profile.js';

/**
 * Cross-checks between what a CPU reported and what sigframe computes from its per-component
 * subleaves. The CPU's own size fields are the ground truth here:
 *  - CPUID.(0xD,0).ECX = standard size of every supported XCR0 component;
 *  - CPUID.(0xD,0).EBX = standard size of the XCR0 in force when CPUID ran (capture.xcr0);
 *  - CPUID.(0xD,1).EBX = compacted size of XCR0|IA32_XSS in force then (capture.xcr0|xss).
 */
export interface SizeCheck {
  readonly field: 'xsave_sz_max' | 'xsave_sz_xcr0' | 'xsave_sz_xcr0_xss';
  readonly mask: bigint;
  readonly format: 'standard' | 'compacted';
  readonly cpuid: number;
  readonly computed: number | null;
  /** 'unknown' when the input lacks a subleaf the computation needs. */
  readonly status: 'ok' | 'mismatch' | 'unknown';
  readonly note?: string;
}

const LWP = XFEATURE_MASK.LWP;

export function sizeChecks(p: Profile): SizeCheck[] {
  const e = p.xsave;
  const out: SizeCheck[] = [];
  const check = (
    field: SizeCheck['field'],
    mask: bigint,
    format: SizeCheck['format'],
    cpuid: number | undefined,
  ) => {
    if (cpuid === undefined) return;
    const computed = xstateSizeOf(e, mask, format);
    if (computed !== undefined) {
      out.push({ field, mask, format, cpuid, computed, status: computed === cpuid ? 'ok' : 'mismatch' });
      return;
    }
    const note = layoutProblem(e, mask, format)?.message;
    out.push({ field, mask, format, cpuid, computed: null, status: 'unknown', ...(note ? { note } : {}) });
  };
  // LWP (bit 62) is enumerated by some AMD parts but has no standard offset in sigframe's table.
  check('xsave_sz_max', e.xcr0Supported & ~LWP, 'standard', e.sizeMax);
  const capture = p.file.capture;
  if (capture) {
    check('xsave_sz_xcr0', capture.xcr0, 'standard', e.sizeXcr0);
    const compacted = e.instructions && (e.instructions.xsavec || e.instructions.xsaves);
    if (capture.xss !== undefined && compacted)
      check('xsave_sz_xcr0_xss', capture.xcr0 | capture.xss, 'compacted', e.sizeXcr0Xss);
  }
  return out;
}

// ---- the consistency gate ---------------------------------------------------------------------

/*
 * The rules below are the kernel's own sanity checks on leaf 0xD (arch/x86/kernel/fpu/xstate.c,
 * Linux 6.18), turned into refusals. The kernel answers a disagreement in one of two ways:
 *  - paranoid_xstate_size_valid() recomputes the area size from the subleaves
 *    (xstate_calculate_size: the offset + size of the component with the highest offset) and
 *    compares it with CPUID.(0xD,0).EBX (CPUID.(0xD,1).EBX when compacted); on a mismatch it
 *    WARNs "XSAVE consistency problem: size %u != kernel_size %u", dumps the leaves, and
 *    fpu__init_system_xstate() disables XSAVE ("x86/fpu: XSAVE disabled");
 *  - check_xstate_against_struct() WARNs "[%s]: struct is %zu bytes, cpu state %d bytes" when a
 *    component's EAX differs from the kernel's struct, and then trusts CPUID.
 * Either way a machine with such CPUID exists only as a broken one, and sigframe, which sees a
 * recording and not the machine, cannot tell which of two contradicting values is the right one:
 * each disagreement is an error that names the records.
 */

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const D0 = { leaf: 0xd, subleaf: 0 } as const;
const D1 = { leaf: 0xd, subleaf: 1 } as const;
const sub = (nr: number): RecordRef => ({ leaf: 0xd, subleaf: nr });

/** Enumeration findings the gate refuses although readXsaveEnumeration only warns about them. */
const REFUSED: Readonly<Record<string, string>> = {
  // check_xstate_against_struct WARNs and keeps CPUID's size; sigframe's register view and the
  // kernel's struct (layouts/xfeatures.ts) are the architecture's, CPUID says otherwise.
  'size-mismatch': 'sigframe cannot know whether the struct or CPUID is right',
  // setup_xstate_cache() gives a component with ECX[0] set no standard offset, and
  // paranoid_xstate_size_valid() disables XSAVE ("Got supervisor feature %d, but XSAVES not
  // advertised") — a user component the standard format (signal frames) cannot place.
  'xss-flag-on-xcr0': 'a user component without a standard-format offset',
};

/** User components with a subleaf: the ones the standard format (signal frames) places. */
function userComponents(p: Profile): XsaveComponent[] {
  return [...p.xsave.components.values()].filter(
    (c) => c.nr >= FIRST_EXTENDED_XFEATURE && c.in === 'xcr0' && !c.supervisor && c.size > 0,
  );
}

const span = (c: XsaveComponent) => `${c.name} [${c.offset}..${c.offset + c.size - 1}]`;

/** The rules on CPUID.(0xD,0) and (0xD,1) size fields, against the subleaves. */
export function sizeFieldFindings(p: Profile): Finding[] {
  const e = p.xsave;
  const out: Finding[] = [];
  if (e.xcr0Supported === 0n || e.sizeMax === undefined || e.sizeXcr0 === undefined) return out;
  const err = (code: string, records: RecordRef[], message: string) =>
    out.push({ level: 'error', code, records, message });
  const ecx = `CPUID.(0xD,0).ECX = ${hex(e.sizeMax)}`;

  // fpu__init_system_xstate(): "FP/SSE not present amongst the CPU's xstate features" → XSAVE off.
  if ((e.xcr0Supported & XFEATURE_MASK.FPSSE) !== XFEATURE_MASK.FPSSE) {
    err(
      'no-fpsse',
      [D0],
      `CPUID.(0xD,0).EAX = ${hex(Number(e.xcr0Supported & 0xffffffffn))}: FP and SSE (bits 0 and 1) must both be supported; the kernel says "FP/SSE not present amongst the CPU's xstate features" and disables XSAVE`,
    );
  }
  // Every XSAVE area starts with the legacy region and the header: xstate_calculate_size() never
  // returns less than sizeof(struct xregs_state) = FXSAVE_SIZE + XSAVE_HDR_SIZE.
  for (const [reg, v] of [
    ['EBX', e.sizeXcr0],
    ['ECX', e.sizeMax],
  ] as const) {
    if (v < XSAVE_EXTENDED_START) {
      err(
        'size-below-header',
        [D0],
        `CPUID.(0xD,0).${reg} = ${hex(v)}: an XSAVE area is at least ${XSAVE_EXTENDED_START} bytes (the legacy region and the XSAVE header, sizeof(struct xregs_state))`,
      );
    }
  }
  // Every component would lie beyond such an ECX: saying so for each one repeats the above.
  if (e.sizeMax < XSAVE_EXTENDED_START) return out;
  if (e.sizeXcr0 > e.sizeMax) {
    err(
      'ebx-over-ecx',
      [D0],
      `CPUID.(0xD,0).EBX = ${hex(e.sizeXcr0)}: the size for the XCR0 in force exceeds ${ecx}, the size for every supported component`,
    );
  }

  // setup_xstate_cache() takes each offset and size as given; xstate_calculate_size() makes the
  // area end where the highest-offset component ends, and that must be the size CPUID reports.
  const user = userComponents(p);
  let beyond = false;
  for (const c of user) {
    const end = c.offset + c.size;
    if (end <= e.sizeMax) continue;
    beyond = true;
    err(
      'beyond-size',
      [sub(c.nr), D0],
      c.offset >= e.sizeMax
        ? `CPUID.(0xD,${c.nr}).EBX = ${hex(c.offset)}: ${c.name}'s offset lies beyond ${ecx}, the size of an XSAVE area holding every supported component (the kernel's paranoid_xstate_size_valid would find the area ${end} bytes, not ${e.sizeMax}, and disable XSAVE)`
        : `CPUID.(0xD,${c.nr}).EAX = ${hex(c.size)}, EBX = ${hex(c.offset)}: ${span(c)} ends beyond ${ecx}, the size of an XSAVE area holding every supported component (the kernel's paranoid_xstate_size_valid would find the area ${end} bytes, not ${e.sizeMax}, and disable XSAVE)`,
    );
  }

  // A component beyond the end, or one the enumeration already refuses (size 0, overlapping,
  // inside the header), throws every sum off: the sums below would only repeat it.
  if (beyond || e.findings.some((f) => f.level === 'error')) return out;
  const checks = sizeChecks(p);
  const last = (mask: bigint) =>
    user
      .filter((c) => (mask >> BigInt(c.nr)) & 1n)
      .reduce<XsaveComponent | undefined>(
        (a, c) => (a === undefined || c.offset + c.size > a.offset + a.size ? c : a),
        undefined,
      );
  const ends = (mask: bigint) => {
    const c = last(mask);
    return c
      ? `${c.name} ends there (CPUID.(0xD,${c.nr}): ${c.size} bytes at ${c.offset})`
      : 'no component follows the header';
  };
  for (const c of checks) {
    if (c.status !== 'mismatch' || c.computed === null) continue;
    if (c.field === 'xsave_sz_max') {
      err(
        'ecx-mismatch',
        [D0, ...(last(c.mask) ? [sub(last(c.mask)!.nr)] : [])],
        `${ecx}: the subleaves of the supported components (XCR0 ${hex(c.mask)}) make a standard-format area of ${c.computed} bytes — ${ends(c.mask)}; one of them or ECX is wrong (the kernel makes the same recomputation against EBX in paranoid_xstate_size_valid and disables XSAVE on a mismatch)`,
      );
    }
    if (c.field === 'xsave_sz_xcr0') {
      err(
        'ebx-mismatch',
        [D0, ...(last(c.mask) ? [sub(last(c.mask)!.nr)] : [])],
        `CPUID.(0xD,0).EBX = ${hex(p.xsave.sizeXcr0!)}: for the XCR0 ${hex(c.mask)} in force when CPUID ran, the subleaves make a standard-format area of ${c.computed} bytes — ${ends(c.mask)} (paranoid_xstate_size_valid: "size ${c.computed} != kernel_size ${p.xsave.sizeXcr0}", XSAVE disabled)`,
      );
    }
    if (c.field === 'xsave_sz_xcr0_xss') {
      err(
        'compacted-mismatch',
        [D1],
        `CPUID.(0xD,1).EBX = ${hex(p.xsave.sizeXcr0Xss!)}: for XCR0|IA32_XSS ${hex(c.mask)} in force when CPUID ran, the subleaves (sizes, ECX[1] alignment) make a compacted area of ${c.computed} bytes (paranoid_xstate_size_valid compares the same in the compacted format and disables XSAVE on a mismatch)`,
      );
    }
  }

  // Without the capture's XCR0, EBX can still be checked: the standard size of any XCR0 is 576 or
  // the end of one of its components — if every supported user component has a subleaf.
  if (!p.file.capture && e.sizeXcr0 <= e.sizeMax && e.sizeXcr0 >= XSAVE_EXTENDED_START) {
    const missingUser = e.missing.some((nr) => (e.xcr0Supported >> BigInt(nr)) & 1n);
    const possible = new Set([XSAVE_EXTENDED_START, ...user.map((c) => c.offset + c.size)]);
    if (!missingUser && !possible.has(e.sizeXcr0)) {
      err(
        'ebx-no-xcr0',
        [D0],
        `CPUID.(0xD,0).EBX = ${hex(e.sizeXcr0)}: no XCR0 gives a standard-format area of that size — it ends after the header or where a supported component ends (one of ${[
          ...possible,
        ]
          .sort((a, b) => a - b)
          .join(', ')})`,
      );
    }
  }
  return out;
}

/**
 * Everything the gate has to say about a profile's CPUID: the enumeration's findings (those it
 * only warns about but the gate refuses promoted to errors) and the size-field rules.
 */
export function consistencyFindings(p: Profile): Finding[] {
  return [
    ...p.xsave.findings.map((f) =>
      REFUSED[f.code] ? { ...f, level: 'error' as const, message: `${f.message}: ${REFUSED[f.code]}` } : f,
    ),
    ...sizeFieldFindings(p),
  ];
}

/** Where a record is in the input: "line 21" in a text dump, a JSON path in a file. */
export type LocateRecord = (r: RecordRef) => string | undefined;

export interface GateOptions {
  /** The file, for the message (default: the profile's name). */
  readonly where?: string;
  readonly locate?: LocateRecord;
}

function located(f: Finding, locate: LocateRecord | undefined): string {
  const at = [...new Set((f.records ?? []).map((r) => locate?.(r)).filter((x) => x !== undefined))];
  if (at.length === 0) return f.message;
  // "line 21 and 19", "$.cpuid[4] and $.cpuid[2]": the record to blame first.
  const label = at.every((a) => a.startsWith('line '))
    ? `line${at.length > 1 ? 's' : ''} ${at.map((a) => a.slice('line '.length)).join(' and ')}`
    : at.join(' and ');
  return `${label}: ${f.message}`;
}

/**
 * The consistency gate: refuses a profile whose CPUID contradicts itself — overlapping
 * components, a supported component of size 0, an offset inside the header or beyond the size
 * CPUID reports, sizes the subleaves do not add up to, a size the architecture fixes otherwise —
 * since nothing can be laid out from it. Every file (profile or dump) passes it when loaded; a
 * profile of the running machine only needs its enumeration to be sound, since there the live
 * kernel has already judged its CPUID (and sigframe compares its model with it).
 */
export function requireConsistent(p: Profile, o: GateOptions = {}): void {
  const errors =
    p.origin === 'host'
      ? p.xsave.findings.filter((f) => f.level === 'error')
      : consistencyFindings(p).filter((f) => f.level === 'error');
  if (errors.length === 0) return;
  const where = o.where ?? p.name;
  throw new InputError(
    `${where}: inconsistent CPUID input, no frame can be laid out from it: ${errors.map((f) => located(f, o.locate)).join('; ')}`,
    { path: where },
  );
}
