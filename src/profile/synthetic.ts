import { type CpuidFieldId, cpuidDeps } from '../../layouts/cpuid.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { type CpuidRecord, fieldById } from '../cpuid/records.js';
import { bitsOf, xfeature } from '../xsave/catalog.js';
import { type Profile, profileFromFile } from './profile.js';

/** One extended component as a layout record gives it (NT_X86_XSAVE_LAYOUT: CPUID.(0xD,n) EAX/EBX/ECX). */
export interface LayoutComponent {
  readonly nr: number;
  readonly size: number;
  readonly offset: number;
  readonly flags: number;
}

export interface XsaveLayoutFacts {
  readonly name: string;
  readonly title: string;
  /** Where the facts come from (a core file's note), for the profile's source.cite. */
  readonly cite: string;
  /** The XCR0 of the machine (an NT_X86_XSTATE image keeps it in sw_reserved). */
  readonly xcr0: bigint;
  /** The standard-format size for that XCR0 (the NT_X86_XSTATE size). */
  readonly size: number;
  readonly components: readonly LayoutComponent[];
  /** FXSAVE's MXCSR_MASK there (byte 28 of the legacy image). */
  readonly mxcsrMask?: number;
}

/**
 * A CPU profile holding only what a layout record says: the CPUID a kernel would have seen to
 * enable exactly `xcr0` with these offsets. Each component's CPUID gate (layouts/xfeatures.ts) and
 * the gates those depend on (layouts/cpuid.ts cpuidDeps) are set, leaf 0xD carries the sizes and
 * offsets. What a layout cannot say — vendor, model, XSAVEC/XSAVES — stays unset, so the profile
 * describes the signal frame (always standard format) and nothing the kernel keeps to itself.
 */
export function profileFromXsaveLayout(f: XsaveLayoutFacts): Profile {
  const flags = new Set<CpuidFieldId>(['fpu', 'fxsr', 'sse', 'xsave', 'osxsave']);
  for (const nr of bitsOf(f.xcr0)) {
    const gate = xfeature(nr)?.gate;
    if (gate) flags.add(gate);
  }
  if (f.xcr0 & XFEATURE_MASK.PKRU) flags.add('ospke');
  for (let grew = true; grew; ) {
    grew = false;
    for (const [feature, needs] of cpuidDeps) {
      if (flags.has(feature) && !flags.has(needs)) {
        flags.add(needs);
        grew = true;
      }
    }
  }
  const records = new Map<string, CpuidRecord>();
  const rec = (leaf: number, subleaf: number): CpuidRecord => {
    const key = `${leaf}:${subleaf}`;
    let r = records.get(key);
    if (!r) {
      r = { leaf, subleaf, eax: 0, ebx: 0, ecx: 0, edx: 0 };
      records.set(key, r);
    }
    return r;
  };
  const set = (leaf: number, subleaf: number, reg: 'eax' | 'ebx' | 'ecx' | 'edx', value: number) => {
    const r = rec(leaf, subleaf);
    records.set(`${leaf}:${subleaf}`, { ...r, [reg]: value >>> 0 });
  };
  rec(0, 0);
  set(0, 0, 'eax', 0xd);
  for (const id of flags) {
    const field = fieldById(id);
    if (field.subleaf === 'n') continue;
    const r = rec(field.leaf, field.subleaf);
    set(field.leaf, field.subleaf, field.reg, r[field.reg] | (1 << field.lo));
  }
  set(0xd, 0, 'eax', Number(f.xcr0 & 0xffffffffn));
  set(0xd, 0, 'edx', Number(f.xcr0 >> 32n));
  set(0xd, 0, 'ebx', f.size);
  set(0xd, 0, 'ecx', f.size);
  rec(0xd, 1);
  for (const c of f.components) {
    set(0xd, c.nr, 'eax', c.size);
    set(0xd, c.nr, 'ebx', c.offset);
    set(0xd, c.nr, 'ecx', c.flags);
  }
  const cpuid = [...records.values()].sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf);
  return profileFromFile({
    format: 'sigframe-profile/1',
    name: f.name,
    title: f.title,
    synthetic: true,
    source: {
      kind: 'synthetic',
      cite: f.cite,
      notes: [
        'CPUID built from an XSAVE layout record: leaf 0xD sizes and offsets as recorded, each component’s CPUID gate set; vendor, model and XSAVEC/XSAVES unknown',
      ],
    },
    capture: {
      os: 'unknown (from a layout record)',
      xcr0: f.xcr0,
      ...(f.mxcsrMask !== undefined ? { mxcsr_mask: f.mxcsrMask } : {}),
      basis: f.cite,
    },
    cpuid,
  });
}
