import { LEAF_D_N_ECX_DEFINED } from '../../layouts/cpuid.js';
import type { XfeatureSpec } from '../../layouts/xfeatures.js';
import type { Cpuid } from '../cpuid/records.js';
import {
  architecturalSize,
  bit,
  bitsOf,
  FIRST_EXTENDED_XFEATURE,
  LEGACY_REGIONS,
  XSAVE_EXTENDED_START,
  xfeature,
  xfeatureName,
} from './catalog.js';

/**
 * What CPUID leaf 0xD says about a CPU's XSAVE state, read completely: all 64 XCR0 and XSS bits,
 * the size fields, every component subleaf with its flags. Nothing is dropped: bits sigframe does
 * not know, reserved ECX bits and non-zero EDX are kept and reported as findings.
 */
export interface XsaveComponent {
  readonly nr: number;
  readonly name: string;
  readonly spec: XfeatureSpec | undefined;
  /** CPUID.(0xD,n).EAX */
  readonly size: number;
  /** CPUID.(0xD,n).EBX: standard-format offset; 0 for supervisor components. */
  readonly offset: number;
  readonly supervisor: boolean;
  readonly aligned64: boolean;
  readonly xfdFaulting: boolean;
  /** Where the bit is enumerated as supported. */
  readonly in: 'xcr0' | 'xss';
  readonly ecxReserved: number;
  readonly edx: number;
}

/** One CPUID output a finding is about, so a gate can say where the input holds it (file line, JSON path). */
export interface RecordRef {
  readonly leaf: number;
  readonly subleaf: number;
}

export interface Finding {
  readonly level: 'error' | 'warning' | 'note';
  readonly code: string;
  readonly message: string;
  readonly components?: readonly number[];
  /** The records the finding names, first the one to blame. */
  readonly records?: readonly RecordRef[];
}

export interface XsaveEnumeration {
  readonly xcr0Supported: bigint;
  readonly xssSupported: bigint;
  /** CPUID.(0xD,0).EBX: standard size for the XCR0 of the OS that ran CPUID. */
  readonly sizeXcr0: number | undefined;
  /** CPUID.(0xD,0).ECX: standard size for every supported XCR0 component. */
  readonly sizeMax: number | undefined;
  /** CPUID.(0xD,1).EBX: compacted size for XCR0|IA32_XSS of the OS that ran CPUID (0 without XSAVEC/S). */
  readonly sizeXcr0Xss: number | undefined;
  readonly instructions:
    | { xsaveopt: boolean; xsavec: boolean; xgetbv1: boolean; xsaves: boolean; xfd: boolean }
    | undefined;
  /** Components 0 and 1 (legacy region) and every supported component with a subleaf, by number. */
  readonly components: ReadonlyMap<number, XsaveComponent>;
  /** Supported bits whose subleaf the input lacks. */
  readonly missing: readonly number[];
  /** Supported bits that are not in sigframe's component table. */
  readonly unknown: readonly number[];
  readonly findings: readonly Finding[];
}

export function readXsaveEnumeration(cpuid: Cpuid): XsaveEnumeration {
  const findings: Finding[] = [];
  if (!cpuid.has(0xd, 0)) {
    return {
      xcr0Supported: 0n,
      xssSupported: 0n,
      sizeXcr0: undefined,
      sizeMax: undefined,
      sizeXcr0Xss: undefined,
      instructions: undefined,
      components: new Map(),
      missing: [],
      unknown: [],
      findings: [
        {
          level: 'warning',
          code: 'no-leaf-d',
          message: 'the input has no CPUID leaf 0xD (no XSAVE enumeration)',
        },
      ],
    };
  }
  const xcr0Supported =
    (BigInt(cpuid.field('xcr0_supported_hi')!) << 32n) | BigInt(cpuid.field('xcr0_supported_lo')!);
  const hasSub1 = cpuid.has(0xd, 1);
  const xssSupported = hasSub1
    ? (BigInt(cpuid.field('xss_supported_hi')!) << 32n) | BigInt(cpuid.field('xss_supported_lo')!)
    : 0n;
  if (!hasSub1) {
    findings.push({
      level: 'warning',
      code: 'no-subleaf-1',
      message: 'CPUID.(0xD,1) is missing: XSAVEC/XSAVES/XFD and XSS unknown',
    });
  }

  const components = new Map<number, XsaveComponent>();
  for (const legacy of LEGACY_REGIONS) {
    if (xcr0Supported & bit(legacy.nr)) {
      components.set(legacy.nr, {
        nr: legacy.nr,
        name: xfeatureName(legacy.nr),
        spec: xfeature(legacy.nr),
        size: legacy.size,
        offset: legacy.offset,
        supervisor: false,
        aligned64: false,
        xfdFaulting: false,
        in: 'xcr0',
        ecxReserved: 0,
        edx: 0,
      });
    }
  }

  const supported = xcr0Supported | xssSupported;
  const missing: number[] = [];
  const unknown: number[] = [];
  for (const nr of bitsOf(supported)) {
    const spec = xfeature(nr);
    if (!spec) unknown.push(nr);
    if (nr < FIRST_EXTENDED_XFEATURE) continue;
    const rec = cpuid.get(0xd, nr);
    if (!rec) {
      missing.push(nr);
      continue;
    }
    const ecx = rec.ecx >>> 0;
    const c: XsaveComponent = {
      nr,
      name: xfeatureName(nr),
      spec,
      size: cpuid.field('xsave_sz', nr)!,
      offset: cpuid.field('xsave_offset', nr)!,
      supervisor: cpuid.flag('is_xss_bit', nr),
      aligned64: cpuid.flag('compacted_xsave_64byte_aligned', nr),
      xfdFaulting: cpuid.flag('xfd_faulting', nr),
      in: xcr0Supported & bit(nr) ? 'xcr0' : 'xss',
      ecxReserved: ecx & ~LEAF_D_N_ECX_DEFINED,
      edx: rec.edx >>> 0,
    };
    components.set(nr, c);
    check(c, findings);
  }

  if (missing.length > 0) {
    findings.push({
      level: 'warning',
      code: 'incomplete',
      components: missing,
      message: `incomplete dump: component${missing.length > 1 ? 's' : ''} ${missing
        .map((n) => `${n} (${xfeatureName(n)})`)
        .join(
          ', ',
        )} ${missing.length > 1 ? 'are' : 'is'} supported but the input has no CPUID.(0xD,n) subleaf for ${
        missing.length > 1 ? 'them' : 'it'
      }: offset and size unknown`,
    });
  }
  for (const nr of unknown) {
    findings.push({
      level: 'note',
      code: 'unknown-bit',
      components: [nr],
      message: `bit ${nr} is enumerated as supported (${xcr0Supported & bit(nr) ? 'XCR0' : 'XSS'}) but is not a component sigframe knows; kept, not laid out by the kernel model`,
    });
  }
  checkOverlaps(components, findings);

  const sizeMax = cpuid.field('xsave_sz_max');
  return {
    xcr0Supported,
    xssSupported,
    sizeXcr0: cpuid.field('xsave_sz_xcr0'),
    sizeMax,
    sizeXcr0Xss: hasSub1 ? cpuid.field('xsave_sz_xcr0_xss') : undefined,
    instructions: hasSub1
      ? {
          xsaveopt: cpuid.flag('xsaveopt'),
          xsavec: cpuid.flag('xsavec'),
          xgetbv1: cpuid.flag('xgetbv1'),
          xsaves: cpuid.flag('xsaves'),
          xfd: cpuid.flag('xfd'),
        }
      : undefined,
    components,
    missing,
    unknown,
    findings,
  };
}

function check(c: XsaveComponent, findings: Finding[]): void {
  const at = `CPUID.(0xD,${c.nr}) ${c.name}`;
  const records = [{ leaf: 0xd, subleaf: c.nr }];
  if (c.size === 0) {
    findings.push({
      level: 'error',
      code: 'zero-size',
      components: [c.nr],
      records,
      message: `${at}: supported but its size (EAX) is 0`,
    });
  }
  if (c.in === 'xcr0' && c.supervisor) {
    findings.push({
      level: 'warning',
      code: 'xss-flag-on-xcr0',
      components: [c.nr],
      records,
      message: `${at}: enumerated in XCR0 but ECX[0] marks it as a supervisor (XSS) component`,
    });
  }
  if (c.in === 'xss' && !c.supervisor) {
    findings.push({
      level: 'warning',
      code: 'xcr0-flag-on-xss',
      components: [c.nr],
      records,
      message: `${at}: enumerated in IA32_XSS but ECX[0] marks it as a user component`,
    });
  }
  if (!c.supervisor && c.size > 0 && c.offset < XSAVE_EXTENDED_START) {
    findings.push({
      level: 'error',
      code: 'offset-in-legacy',
      components: [c.nr],
      records,
      message: `${at}: standard offset ${c.offset} lies inside the legacy region and header (0..${XSAVE_EXTENDED_START - 1})`,
    });
  }
  const arch = c.spec ? architecturalSize(c.spec) : null;
  // Size 0 is 'zero-size' above; one record, one complaint.
  if (arch !== null && c.size !== arch && c.size !== 0) {
    findings.push({
      level: 'warning',
      code: 'size-mismatch',
      components: [c.nr],
      records,
      message: `${at}: size ${c.size} differs from the architectural ${arch} bytes (the kernel's check_xstate_against_struct WARNs "struct is ${arch} bytes, cpu state ${c.size} bytes" and goes on with CPUID's size)`,
    });
  }
  if (c.ecxReserved !== 0) {
    findings.push({
      level: 'note',
      code: 'ecx-reserved',
      components: [c.nr],
      records,
      message: `${at}: reserved ECX bits set: 0x${c.ecxReserved.toString(16)}`,
    });
  }
  if (c.edx !== 0) {
    findings.push({
      level: 'note',
      code: 'edx-reserved',
      components: [c.nr],
      records,
      message: `${at}: EDX is 0x${c.edx.toString(16)} (reserved)`,
    });
  }
}

/** Standard-format regions of user components must not overlap: offsets are not ordered by number. */
function checkOverlaps(components: ReadonlyMap<number, XsaveComponent>, findings: Finding[]): void {
  const user = [...components.values()]
    .filter((c) => !c.supervisor && c.nr >= FIRST_EXTENDED_XFEATURE && c.size > 0)
    .sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < user.length; i++) {
    const prev = user[i - 1]!;
    const cur = user[i]!;
    if (cur.offset < prev.offset + prev.size) {
      findings.push({
        level: 'error',
        code: 'overlap',
        components: [prev.nr, cur.nr],
        records: [
          { leaf: 0xd, subleaf: cur.nr },
          { leaf: 0xd, subleaf: prev.nr },
        ],
        message: `inconsistent CPUID: CPUID.(0xD,${prev.nr}) ${prev.name} [${prev.offset}..${prev.offset + prev.size - 1}] overlaps CPUID.(0xD,${cur.nr}) ${cur.name} [${cur.offset}..${cur.offset + cur.size - 1}] in the standard format`,
      });
    }
  }
}
