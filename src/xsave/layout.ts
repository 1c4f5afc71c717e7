import { InputError } from '../schema/errors.js';
import {
  bitsOf,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_SIZE,
  LEGACY_REGIONS,
  LEGACY_RESERVED,
  XSAVE_EXTENDED_START,
  XSAVE_HDR_SIZE,
  xfeatureName,
} from './catalog.js';
import type { XsaveComponent, XsaveEnumeration } from './enumeration.js';

/**
 * XSAVE area layouts for a feature mask, in both formats, computed the way
 * arch/x86/kernel/fpu/xstate.c does (xstate_calculate_size, xfeature_get_offset; Linux 7.3.4):
 *  - standard (XSAVE/XSAVEOPT, the only format user space sees — signal frames, ptrace):
 *    each user component at its CPUID offset; the size ends at the component with the highest
 *    offset, which need not be the highest-numbered one (APX at 960 sits in the MPX hole);
 *  - compacted (XSAVEC/XSAVES): components packed in ascending number from byte 576, each
 *    64-byte aligned first if CPUID.(0xD,n).ECX[1] says so.
 */
export type XsaveFormat = 'standard' | 'compacted';

export interface Region {
  /** Component number, or the legacy-region and header parts that are not components. */
  readonly nr: number | 'header' | 'reserved';
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** Compacted format only: the offset was rounded up to 64. */
  readonly aligned?: boolean;
}

export interface XsaveLayout {
  readonly format: XsaveFormat;
  readonly mask: bigint;
  readonly size: number;
  /** Legacy pieces, the header and each component in the mask, in address order. */
  readonly regions: readonly Region[];
}

/**
 * Why `mask` cannot be laid out in `format` from this enumeration (a component the CPU does not
 * support or the input has no subleaf for; a supervisor component in the standard format), or
 * undefined when it can: a message, so that callers that only ask build no exception.
 */
export function layoutProblem(
  e: XsaveEnumeration,
  mask: bigint,
  format: XsaveFormat,
): { readonly message: string; readonly path?: string } | undefined {
  const nrs = bitsOf(mask).filter((n) => n >= FIRST_EXTENDED_XFEATURE);
  const absent = nrs.filter((n) => !e.components.has(n));
  if (absent.length > 0) {
    return {
      message: `cannot lay out ${absent.map((n) => `${n} (${xfeatureName(n)})`).join(', ')}: ${
        absent.some((n) => e.missing.includes(n))
          ? 'the CPUID input has no subleaf for it'
          : 'not supported by this CPU'
      }`,
      path: absent.map((n) => `CPUID.(0xD,${n})`).join(', '),
    };
  }
  const supervisor =
    format === 'standard' ? nrs.map((n) => e.components.get(n)!).filter((c) => c.supervisor) : [];
  if (supervisor.length > 0) {
    return {
      message: `supervisor component${supervisor.length > 1 ? 's' : ''} ${supervisor.map((c) => `${c.nr} (${c.name})`).join(', ')} ha${
        supervisor.length > 1 ? 've' : 's'
      } no standard-format offset: only XSAVES (compacted) saves them`,
    };
  }
  return undefined;
}

/**
 * xfeature_get_offset() for every component of `mask`, in ascending number: the standard format
 * takes CPUID's offset, the compacted one packs from byte 576, 64-aligning where ECX[1] says.
 * Each placed component goes to `place`; returns the end of the one that ends last (at least the
 * legacy region and header: xstate_calculate_size()), or undefined where layoutProblem() has
 * something to say. The one calculation behind xsaveLayout() and xstateSize(), for both formats.
 */
function placeComponents(
  e: XsaveEnumeration,
  mask: bigint,
  format: XsaveFormat,
  place?: (c: XsaveComponent, offset: number) => void,
): number | undefined {
  let end = XSAVE_EXTENDED_START;
  for (let nr = FIRST_EXTENDED_XFEATURE; nr < 64; nr++) {
    if (((mask >> BigInt(nr)) & 1n) === 0n) continue;
    const c = e.components.get(nr);
    if (!c || (format === 'standard' && c.supervisor)) return undefined;
    const offset = format === 'standard' ? c.offset : c.aligned64 ? Math.ceil(end / 64) * 64 : end;
    place?.(c, offset);
    end = format === 'standard' ? Math.max(end, offset + c.size) : offset + c.size;
  }
  return end;
}

/** The size of an XSAVE area holding `mask` in `format`, or undefined where it cannot be laid out. */
export function xstateSizeOf(e: XsaveEnumeration, mask: bigint, format: XsaveFormat): number | undefined {
  return placeComponents(e, mask, format);
}

function layoutError(e: XsaveEnumeration, mask: bigint, format: XsaveFormat): InputError {
  const p = layoutProblem(e, mask, format)!;
  return new InputError(p.message, p.path ? { path: p.path } : {});
}

export function xsaveLayout(e: XsaveEnumeration, mask: bigint, format: XsaveFormat): XsaveLayout {
  const legacy: Region[] = LEGACY_REGIONS.filter((r) => (mask >> BigInt(r.nr)) & 1n).map((r) => ({
    nr: r.nr,
    name: xfeatureName(r.nr),
    offset: r.offset,
    size: r.size,
  }));
  const reserved: Region[] = LEGACY_RESERVED.map((r) => ({ nr: 'reserved', ...r }));
  const header: Region = { nr: 'header', name: 'XSAVE header', offset: FXSAVE_SIZE, size: XSAVE_HDR_SIZE };
  const extended: Region[] = [];
  const size = placeComponents(e, mask, format, (c, offset) =>
    extended.push({
      nr: c.nr,
      name: c.name,
      offset,
      size: c.size,
      ...(format === 'compacted' ? { aligned: c.aligned64 } : {}),
    }),
  );
  if (size === undefined) throw layoutError(e, mask, format);
  // Address order: standard offsets are not ordered by number (APX at 960 sits in the MPX hole).
  extended.sort((a, b) => a.offset - b.offset);
  return { format, mask, size, regions: [...legacy, ...reserved, header, ...extended] };
}

/** Size in bytes of an XSAVE area holding `mask` in `format`; throws what layoutProblem() finds. */
export function xstateSize(e: XsaveEnumeration, mask: bigint, format: XsaveFormat): number {
  const size = placeComponents(e, mask, format);
  if (size === undefined) throw layoutError(e, mask, format);
  return size;
}
