import fc from 'fast-check';
import { XFEATURE, XFEATURE_MASK, type XfeatureName } from '../../layouts/xfeatures.js';
import { PROFILE_FORMAT, type Profile, profileFromFile } from '../profile/profile.js';
import { architecturalSize, XSAVE_EXTENDED_START, xfeature } from '../xsave/catalog.js';

/**
 * Arbitrary CPUs that obey the architecture: leaf 0xD built from an Intel-like scheme (fixed
 * offsets, the MPX area kept at 960 even without MPX, AMX at 2752/2816, APX reusing 960) or an
 * AMD-like one (components packed in order, no MPX/AMX/APX), with the leaf 1/7 flags a kernel
 * consults set to match, optional supervisor state, and CPUID's own size fields computed.
 */
export interface CpuShape {
  readonly vendor: 'intel' | 'amd';
  readonly avx: boolean;
  readonly mpx: boolean;
  readonly avx512: boolean;
  readonly pku: boolean;
  readonly amx: boolean;
  readonly apx: boolean;
  readonly pt: boolean;
}

interface Comp {
  readonly nr: number;
  readonly size: number;
  readonly offset: number;
  readonly ecx: number;
}

/** Intel SDM Vol. 1 §13.4 / Table 13-1 offsets; the APX offset is the published 960. ECX bit 1: 64-byte aligned in the compacted form. */
const INTEL_OFFSET: Partial<Record<XfeatureName, { offset: number; ecx?: number }>> = {
  YMM: { offset: 576 },
  BNDREGS: { offset: 960 },
  BNDCSR: { offset: 1024 },
  OPMASK: { offset: 1088 },
  ZMM_Hi256: { offset: 1152 },
  Hi16_ZMM: { offset: 1664 },
  PKRU: { offset: 2688 },
  XTILE_CFG: { offset: 2752, ecx: 2 },
  XTILE_DATA: { offset: 2816, ecx: 6 },
  APX: { offset: 960 },
};

/** Processor Trace's supervisor area as Intel parts enumerate it (CPUID.(0xD,8).EAX). */
const PT_SIZE = 128;

function components(s: CpuShape): Comp[] {
  const user = [
    s.avx && 'YMM',
    s.mpx && 'BNDREGS',
    s.mpx && 'BNDCSR',
    s.avx512 && 'OPMASK',
    s.avx512 && 'ZMM_Hi256',
    s.avx512 && 'Hi16_ZMM',
    s.pku && 'PKRU',
    s.amx && 'XTILE_CFG',
    s.amx && 'XTILE_DATA',
    s.apx && 'APX',
  ].filter((n): n is XfeatureName => n !== false);
  // Each component's size is its register struct's: the architectural size the kernel checks.
  const size = (name: XfeatureName) => architecturalSize(xfeature(XFEATURE[name])!)!;
  const out: Comp[] = [];
  if (s.vendor === 'intel')
    for (const name of user) {
      const at = INTEL_OFFSET[name]!;
      out.push({ nr: XFEATURE[name], size: size(name), offset: at.offset, ecx: at.ecx ?? 0 });
    }
  else {
    let offset = XSAVE_EXTENDED_START;
    for (const name of user) {
      out.push({ nr: XFEATURE[name], size: size(name), offset, ecx: 0 });
      offset += size(name);
    }
  }
  if (s.pt) out.push({ nr: XFEATURE.PT, size: PT_SIZE, offset: 0, ecx: 1 });
  return out.sort((a, b) => a.nr - b.nr);
}

const b = (on: boolean, n: number) => (on ? 2 ** n : 0);

/** The profile file of a CPU shape (a synthetic profile, marked as such). */
export function profileOfShape(s: CpuShape, name = 'arbitrary-cpu'): Profile {
  const comps = components(s);
  const user = comps.filter((c) => !(c.ecx & 1));
  const userMask = user.reduce((m, c) => m | (1n << BigInt(c.nr)), XFEATURE_MASK.FPSSE);
  const xss = comps.filter((c) => c.ecx & 1).reduce((m, c) => m | (1n << BigInt(c.nr)), 0n);
  const stdSize = user.reduce((m, c) => Math.max(m, c.offset + c.size), XSAVE_EXTENDED_START);
  let compacted = XSAVE_EXTENDED_START;
  for (const c of comps) compacted = (c.ecx & 2 ? Math.ceil(compacted / 64) * 64 : compacted) + c.size;
  const xsaves = s.amx || s.pt;
  const vendor =
    s.vendor === 'intel' ? [0x756e6547, 0x6c65746e, 0x49656e69] : [0x68747541, 0x444d4163, 0x69746e65];
  const rec = (leaf: number, subleaf: number, eax: number, ebx: number, ecx: number, edx: number) => ({
    leaf,
    subleaf,
    eax: eax >>> 0,
    ebx: ebx >>> 0,
    ecx: ecx >>> 0,
    edx: edx >>> 0,
  });
  const cpuid = [
    rec(0, 0, 0xd, vendor[0]!, vendor[2]!, vendor[1]!),
    rec(
      1,
      0,
      0x000906a0,
      0,
      b(true, 26) | b(true, 27) | b(s.avx, 28),
      b(true, 0) | b(true, 24) | b(true, 25),
    ),
    rec(
      7,
      0,
      1,
      b(s.avx, 5) | b(s.mpx, 14) | b(s.avx512, 16) | b(s.pt, 25),
      b(s.pku, 3) | b(s.pku, 4),
      b(s.amx, 24),
    ),
    rec(7, 1, 0, 0, 0, b(s.apx, 21)),
    rec(0xd, 0, Number(userMask & 0xffffffffn), stdSize, stdSize, 0),
    rec(
      0xd,
      1,
      b(true, 0) | b(xsaves, 1) | b(true, 2) | b(xsaves, 3) | b(s.amx, 4),
      compacted,
      Number(xss),
      0,
    ),
    ...comps.map((c) => rec(0xd, c.nr, c.size, c.offset, c.ecx, 0)),
  ];
  return profileFromFile({
    format: PROFILE_FORMAT,
    name,
    title: `synthetic ${s.vendor} CPU`,
    synthetic: true,
    source: { kind: 'synthetic', cite: 'sigframe/testing arbitraryCpu()' },
    cpuid,
  });
}

/** CPU shapes: AVX-512 implies AVX; MPX and APX exclude each other; AMX and APX are Intel-only. */
export function arbitraryCpuShape(): fc.Arbitrary<CpuShape> {
  return fc
    .record({
      vendor: fc.constantFrom('intel' as const, 'amd' as const),
      avx: fc.boolean(),
      mpx: fc.boolean(),
      avx512: fc.boolean(),
      pku: fc.boolean(),
      amx: fc.boolean(),
      apx: fc.boolean(),
      pt: fc.boolean(),
    })
    .map((s) => {
      const intel = s.vendor === 'intel';
      const avx512 = s.avx512 && s.avx;
      const apx = intel && s.apx && !s.mpx;
      return { ...s, avx512, mpx: intel && s.mpx, amx: intel && s.amx && s.avx, apx, pt: intel && s.pt };
    });
}

export function arbitraryProfile(): fc.Arbitrary<Profile> {
  return arbitraryCpuShape().map((s) => {
    const p = profileOfShape(s);
    return Object.assign(p, { [fc.toStringMethod]: () => `profileOfShape(${JSON.stringify(s)})` });
  });
}
