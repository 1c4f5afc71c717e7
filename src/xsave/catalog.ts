import { dataModels } from '../../layouts/abi.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, type XfeatureSpec, xfeatures } from '../../layouts/xfeatures.js';
import { InputError } from '../schema/errors.js';
import { locate, sizeOf } from '../schema/layout.js';

/** Lookups over the component table in layouts/xfeatures.ts, and feature-mask helpers. */

const byNr = new Map<number, XfeatureSpec>(xfeatures.map((x) => [x.nr, x]));

export function xfeature(nr: number): XfeatureSpec | undefined {
  return byNr.get(nr);
}

export function xfeatureName(nr: number): string {
  return byNr.get(nr)?.name ?? `bit${nr}`;
}

/** The architectural size the kernel checks CPUID.(0xD,n).EAX against, if it checks one. */
export function architecturalSize(spec: XfeatureSpec): number | null {
  if (spec.legacy) return null;
  if (spec.registers) return sizeOf(spec.registers, dataModels.lp64);
  return spec.size ?? null;
}

/** FIRST_EXTENDED_XFEATURE: components below it live in the 512-byte legacy region. */
export const FIRST_EXTENDED_XFEATURE = XFEATURE.YMM;

/** Where the legacy components sit in the 512-byte FXSAVE region, as the kernel caches them
 * (setup_xstate_cache: FP = bytes 0..offsetof(xmm_space), SSE = xmm_space). */
const xmm = locate(fpstate_64, dataModels.lp64, 'xmm_space');
export const LEGACY_REGIONS = [
  { nr: XFEATURE.FP, offset: 0, size: xmm.offset },
  { nr: XFEATURE.SSE, offset: xmm.offset, size: xmm.size },
] as const;

/** Bytes 416..463 of the FXSAVE image: reserved by the hardware, never written by XSAVE. */
export const FXSAVE_RESERVED = locate(fpstate_64, dataModels.lp64, 'reserved2');
/** Bytes 464..511: `sw_reserved` (struct _fpx_sw_bytes), the kernel's description of what follows. */
export const SW_RESERVED = locate(fpstate_64, dataModels.lp64, 'sw_reserved');
/** The x87 and SSE registers: the FXSAVE image up to its reserved bytes. */
export const LEGACY_REGISTERS_SIZE = FXSAVE_RESERVED.offset;

/** The rest of the legacy region: bytes the hardware reserves and the kernel's software bytes. */
export const LEGACY_RESERVED = [
  { name: 'reserved (FXSAVE)', offset: FXSAVE_RESERVED.offset, size: FXSAVE_RESERVED.size },
  { name: 'sw_reserved (_fpx_sw_bytes)', offset: SW_RESERVED.offset, size: SW_RESERVED.size },
] as const;

export const FXSAVE_SIZE = sizeOf(fpstate_64, dataModels.lp64);
export const XSAVE_HDR_SIZE = sizeOf(xstate_header, dataModels.lp64);
/** The XSAVE header: right after the legacy region, in both formats. */
export const XSAVE_HEADER_OFFSET = FXSAVE_SIZE;
/** Start of the extended region in both formats: legacy region + XSAVE header. */
export const XSAVE_EXTENDED_START = FXSAVE_SIZE + XSAVE_HDR_SIZE;
/** XSTATE_BV (the header's xfeatures) in an XSAVE image. */
export const XSTATE_BV_OFFSET = FXSAVE_SIZE + locate(xstate_header, dataModels.lp64, 'xfeatures').offset;

export function bit(nr: number): bigint {
  return 1n << BigInt(nr);
}

export function maskOf(nrs: Iterable<number>): bigint {
  let m = 0n;
  for (const n of nrs) m |= bit(n);
  return m;
}

export function bitsOf(mask: bigint): number[] {
  const out: number[] = [];
  // Two 32-bit halves as numbers: masks are read often, and a BigInt shift per bit is not cheap.
  const halves = [Number(BigInt.asUintN(32, mask)), Number(BigInt.asUintN(32, mask >> 32n))];
  for (const [h, word] of halves.entries())
    for (let i = 0; word >>> i !== 0 && i < 32; i++) if ((word >>> i) & 1) out.push(32 * h + i);
  return out;
}

export function has(mask: bigint, nr: number): boolean {
  return ((mask >> BigInt(nr)) & 1n) === 1n;
}

export function hex64(v: bigint): string {
  return `0x${v.toString(16)}`;
}

export function maskNames(mask: bigint): string {
  return bitsOf(mask).map(xfeatureName).join('|') || '0';
}

/** Parses a feature mask given as "0x…" hex or decimal. */
export function parseMask(text: string, where: string): bigint {
  if (!/^(0x[0-9a-fA-F]{1,16}|\d{1,20})$/.test(text)) {
    throw new InputError(`${where}: '${text}' is not a feature mask (hex like 0x2e7, or decimal)`, {
      path: where,
    });
  }
  const v = BigInt(text);
  if (v >= 1n << 64n) throw new InputError(`${where}: ${text} does not fit in 64 bits`, { path: where });
  return v;
}

type WithRegisters = Extract<(typeof xfeatures)[number], { registers: unknown }>;

/** The extended components that have a register view: FP and SSE live in the legacy region. */
export const extendedComponents = xfeatures.filter(
  (x): x is Exclude<WithRegisters, { legacy: true }> => 'registers' in x && !('legacy' in x),
);
