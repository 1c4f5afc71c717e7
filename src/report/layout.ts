import type { AbiName } from '../../layouts/abi.js';
import { abiByName, findStruct, structModel } from '../abi/index.js';
import type { KernelChoice } from '../kernel/eras.js';
import { systemTarget } from '../kernel/system.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { describe, type StructDescription } from '../schema/describe.js';
import { maskNames } from '../xsave/catalog.js';
import { type XsaveFormat, xsaveLayout } from '../xsave/layout.js';

/** `sigframe layout`: the XSAVE area of a profile for a mask (Linux's XCR0 by default). */
export interface XsaveLayoutReport {
  readonly profile: string;
  readonly kernel: string;
  readonly format: XsaveFormat;
  readonly mask: bigint;
  readonly components: string;
  readonly size: number;
  readonly regions: readonly {
    readonly nr: number | 'header' | 'reserved' | 'unused';
    readonly name: string;
    readonly offset: number;
    readonly end: number;
    readonly size: number;
    readonly aligned?: boolean;
  }[];
}

export function xsaveLayoutReport(
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  format: XsaveFormat,
  mask?: bigint,
): XsaveLayoutReport {
  const m = mask ?? systemTarget(profile, kernel, config).k.xcr0;
  const l = xsaveLayout(profile.xsave, m, format);
  const regions: XsaveLayoutReport['regions'][number][] = [];
  let cursor = 0;
  for (const r of l.regions) {
    // Holes are part of the picture: the MPX area Intel keeps at 960 when MPX is off, the padding
    // between legacy and header, compacted alignment gaps.
    if (r.offset > cursor) {
      regions.push({ nr: 'unused', name: 'unused', offset: cursor, end: r.offset, size: r.offset - cursor });
    }
    regions.push({
      nr: r.nr,
      name: r.name,
      offset: r.offset,
      end: r.offset + r.size,
      size: r.size,
      ...(r.aligned === undefined ? {} : { aligned: r.aligned }),
    });
    cursor = Math.max(cursor, r.offset + r.size);
  }
  return {
    profile: profile.name,
    kernel: kernel.label,
    format,
    mask: m,
    components: maskNames(m),
    size: l.size,
    regions,
  };
}

/** `sigframe layout --struct`: a struct's fields with offsets, for one ABI. */
export interface StructReport extends StructDescription {
  readonly abi: AbiName;
}

export function structReport(name: string, abi: string, kernelBits: 64 | 32 = 64): StructReport {
  const a = abiByName(abi);
  const s = findStruct(name);
  return { ...describe(s, structModel(s, a.name, kernelBits)), abi: a.name };
}

/** `layout --struct NAME --c-asserts`: the struct's layout as C11 static assertions against the uapi header. */
export { cStructAsserts } from '../abi/cchecks.js';
