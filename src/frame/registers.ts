import type { fpstate_64 } from '../abi/uapi.js';
import type { Infer } from '../schema/node.js';
import type { ComponentValues } from './state.js';

/**
 * The architectural registers a frame holds, assembled from the pieces XSAVE scatters them over:
 * xmm from the legacy region, ymm = xmm + YMM's upper halves, zmm0–15 = ymm + ZMM_Hi256,
 * zmm16–31 from Hi16_ZMM, and so on. Vector and x87 registers are bytes in memory order; only
 * registers whose components the frame carries appear.
 */
export interface Registers {
  readonly st?: Uint8Array[];
  readonly mxcsr?: number;
  readonly xmm?: Uint8Array[];
  readonly ymm?: Uint8Array[];
  readonly zmm?: Uint8Array[];
  readonly k?: bigint[];
  readonly bnd?: { lower_bound: bigint; upper_bound: bigint }[];
  readonly pkru?: number;
  readonly tilecfg?: ComponentValues['XTILE_CFG'];
  readonly tmm?: Uint8Array[];
  readonly egpr?: bigint[];
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
): Registers {
  const xmm = legacy.xmm_space.slice(0, xmmCount);
  const ymm = c.YMM ? xmm.map((x, i) => cat(x, c.YMM!.ymmh_space[i]!)) : undefined;
  const zmmLow = ymm && c.ZMM_Hi256 ? ymm.map((y, i) => cat(y, c.ZMM_Hi256!.zmm_upper[i]!)) : undefined;
  const zmm = zmmLow && c.Hi16_ZMM && xmmCount === 16 ? [...zmmLow, ...c.Hi16_ZMM.hi16_zmm] : zmmLow;
  return {
    st: legacy.st_space.map((r) => r.slice(0, 10)),
    mxcsr: legacy.mxcsr,
    xmm,
    ...(ymm ? { ymm } : {}),
    ...(zmm ? { zmm } : {}),
    ...(c.OPMASK ? { k: c.OPMASK.opmask_reg } : {}),
    ...(c.BNDREGS ? { bnd: c.BNDREGS.bndreg } : {}),
    ...(c.PKRU ? { pkru: c.PKRU.pkru } : {}),
    ...(c.XTILE_CFG ? { tilecfg: c.XTILE_CFG } : {}),
    ...(c.XTILE_DATA ? { tmm: c.XTILE_DATA.tmm } : {}),
    ...(c.APX ? { egpr: c.APX.egpr } : {}),
  };
}
