import { type AbiName, abis } from '../../layouts/abi.js';
import { type CpuidFieldId, cpuidDeps, cpuidFields } from '../../layouts/cpuid.js';
import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { kernelEras } from '../../layouts/kernels.js';
import { XFEATURE, XFEATURE_MASK, xfeatures } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { structModel } from '../abi/index.js';
import { parseKernelVersion } from '../kernel/eras.js';
import { FREGS_STATE_SIZE, XSAVE_ALIGNMENT } from '../kernel/fpu_signal.js';
import { FRAME_ALIGNMENT, maxFrameSiginfoUctxtSize } from '../kernel/signal.js';
import { DEFAULT_TOP_ALIGN } from '../report/terms.js';
import { sizeOf } from '../schema/layout.js';
import {
  architecturalSize,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_SIZE,
  maskOf,
  XSAVE_EXTENDED_START,
  xfeature,
} from '../xsave/catalog.js';

/**
 * The data `sigframe gen c` puts into sigframe.h, read from the same tables the TypeScript model
 * reads (layouts/): the CPUID bits the kernel checks and their dependencies, the component table,
 * the kernel eras, the frame kinds with their structs' sizes, and the constants. The C functions
 * that use them (src/gen/c.ts) follow the kernel functions src/kernel/ models, each named there.
 */

/** Single-bit CPUID fields at a fixed (leaf, subleaf): the flags the kernel model reads. */
export const cFlags = cpuidFields.flatMap((f) =>
  f.lo === f.hi && typeof f.subleaf === 'number'
    ? [{ id: f.id as CpuidFieldId, leaf: f.leaf, subleaf: f.subleaf, reg: f.reg, bit: f.lo, desc: f.desc }]
    : [],
);

const flagIndex = (id: CpuidFieldId): number => {
  const i = cFlags.findIndex((f) => f.id === id);
  if (i < 0) throw new Error(`CPUID field ${id} is not a single-bit flag at a fixed subleaf`);
  return i;
};

export const flagEnum = (id: CpuidFieldId) => `SIGFRAME__F_${id.toUpperCase()}`;

/** The (leaf, subleaf) pairs the flags live in, which sigframe_cpuid_read() fills. */
export const cFlagLeaves = [...new Map(cFlags.map((f) => [`${f.leaf}:${f.subleaf}`, f])).values()].map(
  (f) => ({ leaf: f.leaf, subleaf: f.subleaf }),
);

/** The per-component ECX bit of CPUID.(0xD,n) that marks a supervisor (IA32_XSS) component. */
export const supervisorBit = cpuidFields.find((f) => f.id === 'is_xss_bit')!.lo;

export const cDeps = cpuidDeps.map(([feature, needs]) => [flagIndex(feature), flagIndex(needs)] as const);

/** One row per component number up to the highest one sigframe knows (gaps: never enabled). */
export const cXfeatures = Array.from({ length: Math.max(...xfeatures.map((x) => x.nr)) + 1 }, (_, nr) => {
  const spec = xfeature(nr);
  return {
    nr,
    name: spec?.name ?? null,
    gate: spec?.gate ? flagIndex(spec.gate) : -1,
    gateName: spec?.gate ?? null,
    kernel64Only: spec !== undefined && 'kernel64Only' in spec && spec.kernel64Only !== undefined,
    archSize: spec ? (architecturalSize(spec) ?? 0) : 0,
  };
});

/** KERNEL_VERSION(a, b, c), as <linux/version.h> encodes it; patch levels above 255 clamp. */
export function kernelVersionCode(text: string): number {
  const [a, b, c] = parseKernelVersion(text);
  return a * 65536 + b * 256 + Math.min(c, 255);
}

const overflowCode = { none: 0, nested: 1, entering: 2 } as const;
export const cOverflowChecks = Object.keys(overflowCode) as (keyof typeof overflowCode)[];

export const cEras = kernelEras.map((e) => ({
  id: e.id,
  label: e.label,
  since: kernelVersionCode(e.since),
  userSupported: maskOf(e.userSupported),
  userDynamic: maskOf(e.userDynamic),
  apxMpxConflict: e.apxMpxConflict,
  atMinsigstksz: e.atMinsigstksz,
  overflowNative: overflowCode[e.overflowCheck.native],
  overflowCompat: overflowCode[e.overflowCheck.compat],
  sigaltstackValidation: e.sigaltstackValidation,
  xfeatureMax: e.xfeatureMax ?? 0,
}));

export const kindNames = Object.keys(frameKinds) as FrameKindName[];
export const kindEnum = (k: FrameKindName) => `SIGFRAME_KIND_${k.toUpperCase().replace('-', '_')}`;

/** ABIs in the order of the C constants; the kinds name theirs. */
export const cAbis = Object.keys(abis) as AbiName[];

export const cKinds = kindNames.map((name) => {
  const kind = frameKinds[name];
  return {
    name,
    abi: cAbis.indexOf(kind.abi),
    fsaveHeader: kind.fsaveHeader,
    redZone: kind.redZone,
    entryAdd: kind.entryAlign.add,
    entrySub: kind.entryAlign.sub,
    size64: sizeOf(kind.struct, structModel(kind.struct, kind.abi, 64)),
    // An i386 kernel runs ia32 frames only.
    size32: kind.abi === 'ia32' ? sizeOf(kind.struct, structModel(kind.struct, kind.abi, 32)) : 0,
    struct: kind.struct.name,
  };
});

export const cConstants = {
  MINSIGSTKSZ: K.MINSIGSTKSZ,
  SIGSTKSZ: K.SIGSTKSZ,
  AT_MINSIGSTKSZ: K.AT_MINSIGSTKSZ,
  ARCH_GET_XCOMP_PERM: K.ARCH_GET_XCOMP_PERM,
  ARCH_REQ_XCOMP_PERM: K.ARCH_REQ_XCOMP_PERM,
  XFEATURE_FP: XFEATURE.FP,
  XFEATURE_XTILE_DATA: XFEATURE.XTILE_DATA,
  XFEATURE_APX: XFEATURE.APX,
  DEFAULT_TOP_ALIGN,
  FRAME_ALIGNMENT,
  XSAVE_ALIGNMENT,
  FXSAVE_SIZE,
  XSAVE_EXTENDED_START,
  FIRST_EXTENDED_XFEATURE,
  FREGS_STATE_SIZE,
  FP_XSTATE_MAGIC2_SIZE: K.FP_XSTATE_MAGIC2_SIZE,
  MAX_FRAME_SIGINFO_UCTXT_64: maxFrameSiginfoUctxtSize({ bits: 64, ia32Emulation: false }),
  MAX_FRAME_SIGINFO_UCTXT_64_IA32: maxFrameSiginfoUctxtSize({ bits: 64, ia32Emulation: true }),
  MAX_FRAME_SIGINFO_UCTXT_32: maxFrameSiginfoUctxtSize({ bits: 32 }),
} as const;

export const cMasks = {
  FPSSE: XFEATURE_MASK.FPSSE,
  MPX: XFEATURE_MASK.MPX,
  LWP: XFEATURE_MASK.LWP,
} as const;
