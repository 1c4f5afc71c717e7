import { dataModels } from '../../layouts/abi.js';
import { fregs_state } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import { type Access, dataViewAccess } from '../schema/compile.js';
import { locate, sizeOf } from '../schema/layout.js';

/** Tag values of the full x87 tag word (FP_EXP_TAG_* in arch/x86/kernel/fpu/regset.c). */
const TAG = { valid: 0, zero: 1, special: 2, empty: 3 } as const;

/** Where the FXSAVE image and the FSAVE header keep each member (from their schemas). */
const FX = Object.fromEntries(
  ['cwd', 'swd', 'twd', 'rip', 'rdp', 'st_space'].map((m) => [
    m,
    locate(fpstate_64, dataModels.lp64, m).offset,
  ]),
) as Record<'cwd' | 'swd' | 'twd' | 'rip' | 'rdp' | 'st_space', number>;
const FX_ST_STRIDE = locate(fpstate_64, dataModels.lp64, 'st_space').size / 8;
const FR = Object.fromEntries(
  ['cwd', 'swd', 'twd', 'fip', 'fcs', 'foo', 'fos', 'st_space', 'status', 'magic'].map((m) => [
    m,
    locate(fregs_state, dataModels.ilp32, m).offset,
  ]),
) as Record<'cwd' | 'swd' | 'twd' | 'fip' | 'fcs' | 'foo' | 'fos' | 'st_space' | 'status' | 'magic', number>;
const FR_ST_STRIDE = locate(fregs_state, dataModels.ilp32, 'st_space').size / 8;
/** The FSAVE header's size: every byte of it is stored. */
export const FREGS_SIZE = sizeOf(fregs_state, dataModels.ilp32);

/**
 * twd_fxsr_to_i387(): the full 2-bit-per-register tag word FSAVE would store, rebuilt from the
 * FXSAVE image's abridged tags (1 bit per physical register) and the register contents. Physical
 * register i holds ST((i − TOP) mod 8); TOP is FSW bits 11..13.
 */
export function fullTagWord(v: DataView, fx: number): number {
  const swd = v.getUint16(fx + FX.swd, true);
  const twd = v.getUint16(fx + FX.twd, true);
  if (twd === 0) return 0xffffffff; // no register in use: every tag empty, the usual case
  const top = (swd >> 11) & 7;
  let ret = 0;
  for (let i = 0; i < 8; i++) {
    let tag: number = TAG.empty;
    if ((twd >> i) & 1) {
      const st = fx + FX.st_space + FX_ST_STRIDE * ((i - top) & 7);
      const exponent = v.getUint16(st + 8, true) & 0x7fff;
      const significandZero = v.getUint32(st, true) === 0 && v.getUint32(st + 4, true) === 0;
      const integerBit = (v.getUint8(st + 7) & 0x80) !== 0;
      if (exponent === 0x7fff) tag = TAG.special;
      else if (exponent === 0) tag = significandZero ? TAG.zero : TAG.special;
      else tag = integerBit ? TAG.valid : TAG.special;
    }
    ret |= tag << (2 * i);
  }
  return (ret | 0xffff0000) >>> 0;
}

/** Where the FXSAVE image or the FSAVE header lies: a variable and a constant offset from it. */
export interface FsavePlace {
  readonly v: string;
  readonly offset: number;
}

/**
 * The FSAVE header of a 32-bit frame from its FXSAVE image, as code over an Access (`DV` in
 * scope for the full tag word): convert_from_fxsr() and save_fsave_header()
 * (arch/x86/kernel/fpu/regset.c, signal.c, Linux 7.3.4) on a 64-bit kernel. In 64-bit mode the FPU
 * keeps no selectors, so the kernel substitutes the task's CS and DS (expressions `cs`, `ds`).
 * Byte to byte, as the kernel converts. One source for both users: storeFsaveHeader() below
 * (through a DataView, for the builder) and the compiled ia32 writer (typed arrays where aligned),
 * where a call through DataViews took half of what it spends on a frame.
 */
export function fsaveHeaderSource(a: Access, fx: FsavePlace, to: FsavePlace, cs: string, ds: string): string {
  const rd = (off: number, size: 2 | 4) => a.read(fx.v, fx.offset + off, size);
  const wr = (off: number, size: 2 | 4, value: string) => a.write(to.v, to.offset + off, size, value);
  return [
    wr(FR.cwd, 4, `(${rd(FX.cwd, 2)} | 0xffff0000) >>> 0`),
    wr(FR.swd, 4, `(${rd(FX.swd, 2)} | 0xffff0000) >>> 0`),
    wr(FR.twd, 4, `fullTagWord(DV, ${fx.v} + ${fx.offset})`),
    wr(FR.fip, 4, rd(FX.rip, 4)),
    wr(FR.fcs, 4, `(${cs}) >>> 0`),
    wr(FR.foo, 4, rd(FX.rdp, 4)),
    wr(FR.fos, 4, `((${ds}) | 0xffff0000) >>> 0`),
    ...Array.from({ length: 8 }, (_, r) => {
      const from = FX.st_space + FX_ST_STRIDE * r;
      const at = FR.st_space + FR_ST_STRIDE * r;
      // A 10-byte register as 16-bit words: the FSAVE slots are only 2-aligned.
      return Array.from({ length: 5 }, (_, w) => wr(at + 2 * w, 2, rd(from + 2 * w, 2))).join(' ');
    }),
    wr(FR.status, 2, rd(FX.swd, 2)),
    wr(FR.magic, 2, String(K.X86_FXSR_MAGIC)),
  ].join('\n  ');
}

/** The FSAVE header stored at byte `at` of `view` from the FXSAVE image at byte `fx` of it. */
export const storeFsaveHeader = new Function(
  'fullTagWord',
  `"use strict";
return function storeFsaveHeader(DV, fx, cs, ds, at) {
  ${fsaveHeaderSource(dataViewAccess, { v: 'fx', offset: 0 }, { v: 'at', offset: 0 }, 'cs', 'ds')}
};`,
)(fullTagWord) as (view: DataView, fx: number, cs: number, ds: number, at: number) => void;
