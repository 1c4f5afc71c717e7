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

/** A little-endian byte string as the number a register holds. */
export function leValue(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  // One hex parse instead of a shift per byte: tiles are 1 KiB.
  return BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
}

function cat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function assembleRegisters(
  legacy: Infer<typeof fpstate_64>,
  c: ComponentValues,
  xmmCount: 8 | 16,
  /** ia32 frames: the FSAVE header's registers, which rt_sigreturn loads instead of the image's. */
  fsaveSt?: readonly Uint8Array[],
): Registers {
  const xmm = legacy.xmm_space.slice(0, xmmCount);
  const ymm = c.YMM ? xmm.map((x, i) => cat(x, c.YMM!.ymmh_space[i]!)) : undefined;
  const zmmLow = ymm && c.ZMM_Hi256 ? ymm.map((y, i) => cat(y, c.ZMM_Hi256!.zmm_upper[i]!)) : undefined;
  const zmm = zmmLow && c.Hi16_ZMM && xmmCount === 16 ? [...zmmLow, ...c.Hi16_ZMM.hi16_zmm] : zmmLow;
  const n = (list: Uint8Array[]) => list.map(leValue);
  return {
    st: fsaveSt ? fsaveSt.map(leValue) : legacy.st_space.map((r) => leValue(r.subarray(0, 10))),
    mxcsr: legacy.mxcsr,
    xmm: n(xmm),
    ...(ymm ? { ymm: n(ymm) } : {}),
    ...(zmm ? { zmm: n(zmm) } : {}),
    ...(c.OPMASK ? { k: c.OPMASK.opmask_reg } : {}),
    ...(c.BNDREGS ? { bnd: c.BNDREGS.bndreg } : {}),
    ...(c.PKRU ? { pkru: c.PKRU.pkru } : {}),
    ...(c.XTILE_CFG ? { tilecfg: c.XTILE_CFG } : {}),
    ...(c.XTILE_DATA ? { tmm: n(c.XTILE_DATA.tmm) } : {}),
    ...(c.APX ? { egpr: c.APX.egpr } : {}),
  };
}
