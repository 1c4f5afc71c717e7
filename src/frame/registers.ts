import type { fpstate_64 } from '../../layouts/uapi.js';
import type { Infer } from '../schema/node.js';
import type { ComponentValues } from './state.js';

/**
 * The architectural registers a frame holds, assembled from the pieces XSAVE scatters them over:
 * xmm from the legacy region, ymm = xmm + YMM's upper halves, zmm0–15 = ymm + ZMM_Hi256,
 * zmm16–31 from Hi16_ZMM, and so on. Vector, x87 and tile registers are numbers (bigint, read
 * little-endian as the CPU holds them — what gdb prints as $xmm0.uint128), so JSON shows them as
 * "0x…"; only registers whose components the frame carries appear.
 */
export interface Registers {
  readonly st?: bigint[];
  readonly mxcsr?: number;
  readonly xmm?: bigint[];
  readonly ymm?: bigint[];
  readonly zmm?: bigint[];
  readonly k?: bigint[];
  readonly bnd?: { lower_bound: bigint; upper_bound: bigint }[];
  readonly pkru?: number;
  readonly tilecfg?: ComponentValues['XTILE_CFG'];
  readonly tmm?: bigint[];
  readonly egpr?: bigint[];
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** A little-endian byte string's hex digits, most significant first (the order BigInt() reads). */
function leHex(b: Uint8Array): string {
  let s = '';
  for (let i = b.length - 1; i >= 0; i--) s += HEX[b[i]!];
  return s;
}

/** A little-endian byte string as the number a register holds. */
export function leValue(b: Uint8Array): bigint {
  // One hex parse instead of a shift per byte (tiles are 1 KiB), and no Buffer or reversed copy.
  return b.length === 0 ? 0n : BigInt(`0x${leHex(b)}`);
}

export function assembleRegisters(
  legacy: Infer<typeof fpstate_64>,
  c: ComponentValues,
  xmmCount: 8 | 16,
  /** ia32 frames: the FSAVE header's registers, which rt_sigreturn loads instead of the image's. */
  fsaveSt?: readonly Uint8Array[],
): Registers {
  // A wider register is its pieces' digits side by side, high piece first: each piece is turned
  // into hex once, however many registers it is part of.
  const xmmHex = legacy.xmm_space.slice(0, xmmCount).map(leHex);
  const ymmHex = c.YMM ? xmmHex.map((x, i) => leHex(c.YMM!.ymmh_space[i]!) + x) : undefined;
  const zmmLowHex =
    ymmHex && c.ZMM_Hi256 ? ymmHex.map((y, i) => leHex(c.ZMM_Hi256!.zmm_upper[i]!) + y) : undefined;
  const zmmHex =
    zmmLowHex && c.Hi16_ZMM && xmmCount === 16
      ? [...zmmLowHex, ...c.Hi16_ZMM.hi16_zmm.map(leHex)]
      : zmmLowHex;
  const n = (hex: string[]) => hex.map((h) => BigInt(`0x${h}`));
  return {
    st: fsaveSt ? fsaveSt.map(leValue) : legacy.st_space.map((r) => leValue(r.subarray(0, 10))),
    mxcsr: legacy.mxcsr,
    xmm: n(xmmHex),
    ...(ymmHex ? { ymm: n(ymmHex) } : {}),
    ...(zmmHex ? { zmm: n(zmmHex) } : {}),
    ...(c.OPMASK ? { k: c.OPMASK.opmask_reg } : {}),
    ...(c.BNDREGS ? { bnd: c.BNDREGS.bndreg } : {}),
    ...(c.PKRU ? { pkru: c.PKRU.pkru } : {}),
    ...(c.XTILE_CFG ? { tilecfg: c.XTILE_CFG } : {}),
    ...(c.XTILE_DATA ? { tmm: c.XTILE_DATA.tmm.map(leValue) } : {}),
    ...(c.APX ? { egpr: c.APX.egpr } : {}),
  };
}
