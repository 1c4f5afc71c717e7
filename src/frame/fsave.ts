import { dataModels } from '../../layouts/abi.js';
import { fregs_state } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
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
function fullTagWord(v: DataView, fx: number): number {
  const swd = v.getUint16(fx + FX.swd, true);
  const twd = v.getUint16(fx + FX.twd, true);
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

/**
 * The FSAVE header of a 32-bit frame, stored at byte `at` of `dst` from the FXSAVE image at byte
 * `fx` of `src`: convert_from_fxsr() and save_fsave_header() (arch/x86/kernel/fpu/regset.c,
 * signal.c, Linux 7.3.4) on a 64-bit kernel. In 64-bit mode the FPU keeps no selectors, so the
 * kernel substitutes the task's CS and DS. Byte to byte, as the kernel converts: the builder and
 * the compiled writer both call it.
 */
export function storeFsaveHeader(
  src: DataView,
  fx: number,
  cs: number,
  ds: number,
  dst: DataView,
  at: number,
): void {
  dst.setUint32(at + FR.cwd, (src.getUint16(fx + FX.cwd, true) | 0xffff0000) >>> 0, true);
  dst.setUint32(at + FR.swd, (src.getUint16(fx + FX.swd, true) | 0xffff0000) >>> 0, true);
  dst.setUint32(at + FR.twd, fullTagWord(src, fx), true);
  dst.setUint32(at + FR.fip, src.getUint32(fx + FX.rip, true), true);
  dst.setUint32(at + FR.fcs, cs >>> 0, true);
  dst.setUint32(at + FR.foo, src.getUint32(fx + FX.rdp, true), true);
  dst.setUint32(at + FR.fos, (ds | 0xffff0000) >>> 0, true);
  for (let r = 0; r < 8; r++) {
    const from = fx + FX.st_space + FX_ST_STRIDE * r;
    const to = at + FR.st_space + FR_ST_STRIDE * r;
    dst.setUint32(to, src.getUint32(from, true), true);
    dst.setUint32(to + 4, src.getUint32(from + 4, true), true);
    dst.setUint16(to + 8, src.getUint16(from + 8, true), true);
  }
  dst.setUint16(at + FR.status, src.getUint16(fx + FX.swd, true), true);
  dst.setUint16(at + FR.magic, K.X86_FXSR_MAGIC, true);
}
