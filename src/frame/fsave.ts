import type { fregs_state } from '../../layouts/frames.js';
import type { fpstate_64 } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import type { Infer } from '../schema/node.js';

type Fxsave = Infer<typeof fpstate_64>;
type Fregs = Infer<typeof fregs_state>;

/** Tag values of the full x87 tag word (FP_EXP_TAG_* in arch/x86/kernel/fpu/regset.c). */
const TAG = { valid: 0, zero: 1, special: 2, empty: 3 } as const;

/**
 * twd_fxsr_to_i387(): the full 2-bit-per-register tag word FSAVE would store, rebuilt from the
 * FXSAVE image's abridged tags (1 bit per physical register) and the register contents. Physical
 * register i holds ST((i − TOP) mod 8); TOP is FSW bits 11..13.
 */
export function fullTagWord(fx: Pick<Fxsave, 'swd' | 'twd' | 'st_space'>): number {
  const top = (fx.swd >> 11) & 7;
  let ret = 0;
  for (let i = 0; i < 8; i++) {
    let tag: number = TAG.empty;
    if ((fx.twd >> i) & 1) {
      const st = fx.st_space[(i - top) & 7]!;
      const exponent = (st[8]! | (st[9]! << 8)) & 0x7fff;
      const significandZero = st.subarray(0, 8).every((b) => b === 0);
      const integerBit = (st[7]! & 0x80) !== 0;
      if (exponent === 0x7fff) tag = TAG.special;
      else if (exponent === 0) tag = significandZero ? TAG.zero : TAG.special;
      else tag = integerBit ? TAG.valid : TAG.special;
    }
    ret |= tag << (2 * i);
  }
  return (ret | 0xffff0000) >>> 0;
}

/**
 * The FSAVE header of a 32-bit frame: convert_from_fxsr() and save_fsave_header()
 * (arch/x86/kernel/fpu/regset.c, signal.c, Linux 7.3.4) on a 64-bit kernel. In 64-bit mode the
 * FPU keeps no selectors, so the kernel substitutes the task's CS and DS.
 */
export function fsaveHeader(fx: Fxsave, cs: number, ds: number): Fregs {
  return {
    cwd: (fx.cwd | 0xffff0000) >>> 0,
    swd: (fx.swd | 0xffff0000) >>> 0,
    twd: fullTagWord(fx),
    fip: Number(fx.rip & 0xffffffffn),
    fcs: cs,
    foo: Number(fx.rdp & 0xffffffffn),
    fos: (ds | 0xffff0000) >>> 0,
    st_space: fx.st_space.map((r) => r.slice(0, 10)),
    status: fx.swd,
    magic: K.X86_FXSR_MAGIC,
  };
}
