import { tilePalettes } from '../../layouts/registers.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { bitsOf } from './catalog.js';
import type { XsaveFormat } from './layout.js';

/**
 * What the CPU's restore instructions do with an image: XRSTOR in its standard and compacted
 * forms (Intel SDM Vol. 1 §13.8, "Operation of XRSTOR", and the instruction's #GP conditions in
 * Vol. 2), FXRSTOR (Vol. 1 §10.5.3) and FRSTOR. The kernel restores user images with XRSTOR
 * straight from a 64-bit frame, and with XRSTORS from its own copy for 32-bit frames; both end
 * here.
 */

/** The XSAVE header as the instructions read it: XSTATE_BV, XCOMP_BV and the bytes after. */
export interface XsaveHeaderWords {
  readonly xfeatures: bigint;
  /** Bytes 8..23: XCOMP_BV and the 8 bytes after it. */
  readonly reserved1: readonly bigint[];
  /** Bytes 24..63. */
  readonly reserved2: readonly bigint[];
}

export type MxcsrSource = 'image' | 'init' | 'unchanged';

export interface RestoreOutcome {
  /** Set when the instruction raises #GP instead: why, in the SDM's terms. */
  readonly fault?: string;
  readonly format: XsaveFormat | 'fxsave' | 'fsave';
  /** Components loaded from the image. */
  readonly loaded: bigint;
  /** Components set to their initial configuration. */
  readonly initialized: bigint;
  /** Where MXCSR comes from: the image, its initial value 0x1f80, or left as it was. */
  readonly mxcsr: MxcsrSource;
}

export const MXCSR_INIT = 0x1f80;

/**
 * The MXCSR bits a CPU lets software set: FXSAVE's MXCSR_MASK, where 0 means the SDM's default
 * 0x0000ffbf (§11.6.6; the kernel's mxcsr_feature_mask_init(), arch/x86/kernel/fpu/init.c, does
 * the same).
 */
export function effectiveMxcsrMask(mxcsrMask: number): number {
  return mxcsrMask === 0 ? 0xffbf : mxcsrMask;
}

/** Why MXCSR is not a value the CPU accepts (bits outside MXCSR_MASK), or undefined when it is. */
export function mxcsrInvalid(mxcsr: number, mask: number): string | undefined {
  const bad = (mxcsr & ~effectiveMxcsrMask(mask)) >>> 0;
  return bad === 0
    ? undefined
    : `MXCSR 0x${(mxcsr >>> 0).toString(16)} sets bits 0x${bad.toString(16)} outside MXCSR_MASK 0x${effectiveMxcsrMask(mask).toString(16)}`;
}

function mxcsrFault(mxcsr: number, mask: number, insn: string): string | undefined {
  const why = mxcsrInvalid(mxcsr, mask);
  return why && `${why}: ${insn} raises #GP`;
}

const COMPACTED = 1n << 63n;
const hexOf = (v: bigint) => `0x${v.toString(16)}`;

export interface XrstorInput {
  /** Where the image starts: XRSTOR needs 64-byte alignment. */
  readonly address: bigint;
  /** The requested-feature bitmap: EDX:EAX ∧ XCR0. */
  readonly rfbm: bigint;
  readonly xcr0: bigint;
  readonly header: XsaveHeaderWords;
  readonly mxcsr: number;
  readonly mxcsrMask: number;
  /** The CPU supports the compacted form (CPUID.(0xD,1):EAX.XSAVEC). */
  readonly compaction: boolean;
  /** XRSTORS: the header is the kernel's own, so only the compacted form and XSS matter. */
  readonly insn?: 'XRSTOR' | 'XRSTORS';
}

/** XRSTOR: which form, whether it faults, and what it loads, initializes and does to MXCSR. */
export function xrstor(i: XrstorInput): RestoreOutcome {
  const insn = i.insn ?? 'XRSTOR';
  const xcompBv = i.header.reserved1[0] ?? 0n;
  const format: XsaveFormat = (xcompBv & COMPACTED) !== 0n ? 'compacted' : 'standard';
  const fail = (fault: string): RestoreOutcome => ({
    fault,
    format,
    loaded: 0n,
    initialized: 0n,
    mxcsr: 'unchanged',
  });
  if (i.address % 64n !== 0n)
    return fail(`the image at ${hexOf(i.address)} is not 64-byte aligned: ${insn} raises #GP`);
  const xstateBv = i.header.xfeatures;
  if (format === 'standard') {
    const outside = xstateBv & ~i.xcr0;
    if (outside !== 0n)
      return fail(
        `XSTATE_BV ${hexOf(xstateBv)} sets bits outside XCR0 ${hexOf(i.xcr0)} (${bitsOf(outside).join(', ')}): ${insn} raises #GP`,
      );
    if (i.header.reserved1.some((w) => w !== 0n))
      return fail(
        `header bytes 8..23 (XCOMP_BV and the word after it) are not zero: ${insn} (standard form) raises #GP`,
      );
  } else {
    if (!i.compaction)
      return fail(
        `XCOMP_BV bit 63 asks for the compacted form, which this CPU lacks (no XSAVEC): ${insn} raises #GP`,
      );
    const comp = xcompBv & ~COMPACTED;
    if ((comp & ~i.xcr0) !== 0n)
      return fail(
        `XCOMP_BV ${hexOf(xcompBv)} names components outside XCR0 ${hexOf(i.xcr0)}: ${insn} raises #GP`,
      );
    if ((xstateBv & ~comp) !== 0n)
      return fail(
        `XSTATE_BV ${hexOf(xstateBv)} sets bits XCOMP_BV ${hexOf(xcompBv)} does not: ${insn} raises #GP`,
      );
    if ((i.header.reserved1[1] ?? 0n) !== 0n || i.header.reserved2.some((w) => w !== 0n))
      return fail(`header bytes 16..63 are not zero: ${insn} (compacted form) raises #GP`);
  }
  const { SSE, YMM } = XFEATURE_MASK;
  const loaded = i.rfbm & xstateBv;
  const initialized = i.rfbm & ~xstateBv;
  // §13.8.1: the standard form loads MXCSR whenever RFBM asks for SSE or AVX, whatever XSTATE_BV
  // says; §13.8.2: the compacted form treats it as part of SSE state, loaded or initialized with it.
  let mxcsr: MxcsrSource = 'unchanged';
  if (format === 'standard') {
    if ((i.rfbm & (SSE | YMM)) !== 0n) mxcsr = 'image';
  } else if ((i.rfbm & SSE) !== 0n) mxcsr = (xstateBv & SSE) !== 0n ? 'image' : 'init';
  if (mxcsr === 'image') {
    const f = mxcsrFault(i.mxcsr, i.mxcsrMask, insn);
    if (f) return fail(f);
  }
  return { format, loaded, initialized, mxcsr };
}

/**
 * Why a 64-byte TILECFG is not a configuration LDTILECFG would take (Intel SDM Vol. 2
 * LDTILECFG, "Operation": an unknown palette, reserved bytes 2..15 or tiles beyond the palette's
 * set, a tile over its rows or bytes per row, or with only one of the two), or undefined when it
 * is one. Palette 0 is valid: it is TILECFG's INIT state.
 */
export function tilecfgInvalid(cfg: Uint8Array): string | undefined {
  const palette = cfg[0]!;
  if (palette === 0) return undefined;
  const p = tilePalettes[palette];
  if (!p) return `palette ${palette} is not one the CPU has`;
  if (cfg.subarray(2, 16).some((b) => b !== 0)) return 'reserved bytes 2..15 are not zero';
  for (let t = 0; t < 16; t++) {
    const colsb = cfg[16 + 2 * t]! | (cfg[17 + 2 * t]! << 8);
    const rows = cfg[48 + t]!;
    if (t >= p.maxNames) {
      if (colsb !== 0 || rows !== 0)
        return `tile ${t} is configured but palette ${palette} has ${p.maxNames}`;
    } else if (rows > p.maxRows || colsb > p.bytesPerRow || (rows === 0) !== (colsb === 0))
      return `tile ${t} has ${rows} rows of ${colsb} bytes`;
  }
  return undefined;
}

/** FXRSTOR: x87 and SSE state (with MXCSR) from a 16-byte-aligned 512-byte image. */
export function fxrstor(i: { address: bigint; mxcsr: number; mxcsrMask: number }): RestoreOutcome {
  const fail = (fault: string): RestoreOutcome => ({
    fault,
    format: 'fxsave',
    loaded: 0n,
    initialized: 0n,
    mxcsr: 'unchanged',
  });
  if (i.address % 16n !== 0n)
    return fail(`the FXSAVE image at ${hexOf(i.address)} is not 16-byte aligned: FXRSTOR raises #GP`);
  const f = mxcsrFault(i.mxcsr, i.mxcsrMask, 'FXRSTOR');
  if (f) return fail(f);
  return { format: 'fxsave', loaded: XFEATURE_MASK.FPSSE, initialized: 0n, mxcsr: 'image' };
}
