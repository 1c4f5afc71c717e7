import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { InputError } from '../schema/errors.js';
import { xstateSize } from '../xsave/layout.js';
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
    try {
      const computed = xstateSize(e, mask, format);
      out.push({ field, mask, format, cpuid, computed, status: computed === cpuid ? 'ok' : 'mismatch' });
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      out.push({ field, mask, format, cpuid, computed: null, status: 'unknown', note: err.message });
    }
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

/**
 * Refuses a profile whose CPUID contradicts itself (overlapping components, a supported component
 * of size 0): nothing can be laid out from it, and every command that needs a layout says why.
 */
export function requireConsistent(p: Profile): void {
  const errors = p.xsave.findings.filter((f) => f.level === 'error');
  if (errors.length > 0) {
    throw new InputError(
      `${p.name}: inconsistent CPUID input, no frame can be laid out from it: ${errors.map((f) => f.message).join('; ')}`,
      { path: 'profile' },
    );
  }
}
