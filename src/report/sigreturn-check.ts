import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, fregs_state } from '../../layouts/frames.js';
import { EFLAGS } from '../../layouts/segments.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { decodeFrame } from '../frame/decode.js';
import type { Memory, Verdict } from '../frame/sigreturn.js';
import type { KernelChoice } from '../kernel/eras.js';
import { copyFromUser } from '../kernel/uaccess.js';
import type { KernelConfig } from '../kernel/xstate.js';
import { type Profile, profileFromFile } from '../profile/profile.js';
import { locate } from '../schema/layout.js';
import { bit, has } from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import type { SigreturnExperiment } from './experiments.js';

/**
 * Holds the sigreturn model to native/sigreturn.c: each edited frame is rebuilt from the frame
 * the kernel wrote and the edit's patches, decoded, and the verdict turned into what the child
 * would then have seen — which signal, or which values of xmm0, ymm0's upper half, st0, the x87
 * control word, MXCSR and DF. The registers are read from the frame's bytes at the places the
 * verdict says the kernel loads them from, and classed as the experiment classes them.
 */
export interface SigreturnCheck {
  readonly kind: FrameKindName;
  /** The thread had used AMX: its frames carry the tile region. */
  readonly amx?: 'used';
  readonly edit: string;
  readonly kernel: string;
  readonly model: string;
  readonly ok: boolean;
  readonly verdict: Verdict;
}

type Result = NonNullable<SigreturnExperiment['results']>[number];

/** The bytes native/sigreturn.c loads before the signal and writes in its edits, by position. */
type Bytes = (j: number) => number;
const PATTERN = {
  xmm0: (j: number) => 0x40 + j,
  ymm0High: (j: number) => 0x50 + j,
  tmm0: (j: number) => (j * 7 + 0x61) & 0xff,
  st0: 1.25,
} as const;
const EDITED = {
  xmm0: (j: number) => 0xa0 + j,
  ymm0High: (j: number) => 0xb0 + j,
  tmm0: (j: number) => (j * 7 + 0x62) & 0xff,
} as const;
const FCW_INIT = 0x37f;

function vectorClass(b: Uint8Array | undefined, pattern: Bytes, edited: Bytes): string {
  if (!b) return 'unreadable';
  const all = (f: (x: number, j: number) => boolean) => b.every(f);
  if (all((x, j) => x === pattern(j))) return 'pattern';
  if (all((x, j) => x === edited(j))) return 'edited';
  if (all((x) => x === 0)) return 'zero';
  return 'other';
}

/** An 80-bit x87 register as the experiment classes it after FSTP to a double. */
function st0Class(reg: Uint8Array | undefined, empty: boolean): string {
  if (empty) return 'empty';
  if (!reg) return 'unreadable';
  const dv = new DataView(reg.buffer, reg.byteOffset, 10);
  const mant = dv.getBigUint64(0, true);
  const se = dv.getUint16(8, true);
  // 1.25 = 1.01b × 2^0: explicit integer bit and one fraction bit, biased exponent 0x3fff.
  if (mant === 0xa000000000000000n && (se & 0x7fff) === 0x3fff) return se & 0x8000 ? 'edited' : 'pattern';
  return 'other';
}

const FX = {
  cwd: locate(fpstate_64, dataModels.lp64, 'cwd').offset,
  swd: locate(fpstate_64, dataModels.lp64, 'swd').offset,
  twd: locate(fpstate_64, dataModels.lp64, 'twd').offset,
  st0: locate(fpstate_64, dataModels.lp64, 'st_space[0]').offset,
  xmm0: locate(fpstate_64, dataModels.lp64, 'xmm_space[0]').offset,
};
const FS = {
  cwd: locate(fregs_state, dataModels.ilp32, 'cwd').offset,
  swd: locate(fregs_state, dataModels.ilp32, 'swd').offset,
  twd: locate(fregs_state, dataModels.ilp32, 'twd').offset,
  st0: locate(fregs_state, dataModels.ilp32, 'st_space[0]').offset,
};

/**
 * What the child sees after the return, as the model predicts it; `amx`: the thread had loaded
 * tmm0, and the child reports it too; `wide`: the child reports k0, zmm0's upper half and xmm16
 * (a transplanted image on an AVX-512 CPU), read from where the model says XRSTOR loads them.
 */
export function predictedObservation(
  v: Verdict,
  mem: Memory,
  profile: Profile,
  o: { amx?: boolean; wide?: boolean } = {},
): string {
  if (v.verdict === 'sigsegv')
    return v.phase === 'sigreturn' ? 'sigsegv in rt_sigreturn' : `sigsegv on return ${v.trap}`;
  if (v.verdict === 'sigtrap') return 'signal 5';
  const img = v.image?.address;
  const u16 = (a: bigint) => {
    const b = copyFromUser(mem, a, 2);
    return b ? b[0]! | (b[1]! << 8) : undefined;
  };
  const restored = (nr: number) => has(v.restored, nr);
  const xmm0 =
    restored(XFEATURE.SSE) && img !== undefined
      ? vectorClass(copyFromUser(mem, img + BigInt(FX.xmm0), 16), PATTERN.xmm0, EDITED.xmm0)
      : 'zero';
  /** The bytes of component `nr` in the image, at its standard or compacted (XCOMP_BV) offset. */
  const component = (nr: number, size: number) => {
    if (img === undefined) return undefined;
    const compacted = v.image?.format === 'compacted';
    const xcompBv = compacted ? (copyFromUser(mem, img + 520n, 8) ?? new Uint8Array(8)) : undefined;
    const mask = xcompBv
      ? new DataView(xcompBv.buffer, xcompBv.byteOffset, 8).getBigUint64(0, true) & ((1n << 63n) - 1n)
      : bit(nr);
    const r = xsaveLayout(
      profile.xsave,
      mask & ~XFEATURE_MASK.FPSSE,
      compacted ? 'compacted' : 'standard',
    ).regions.find((x) => x.nr === nr);
    return r && copyFromUser(mem, img + BigInt(r.offset), size);
  };
  const ymm0High = restored(XFEATURE.YMM)
    ? vectorClass(component(XFEATURE.YMM, 16), PATTERN.ymm0High, EDITED.ymm0High)
    : 'zero';
  // No tile configured (TILECFG in INIT, or palette 0) reads as "init"; TILEDATA in INIT as zero.
  let tmm0: string | undefined;
  if (o.amx) {
    const palette = restored(XFEATURE.XTILE_CFG) ? component(XFEATURE.XTILE_CFG, 1)?.[0] : 0;
    tmm0 = !palette
      ? 'init'
      : restored(XFEATURE.XTILE_DATA)
        ? vectorClass(component(XFEATURE.XTILE_DATA, 1024), PATTERN.tmm0, EDITED.tmm0)
        : 'zero';
  }
  let st0 = 'empty';
  let fcw: number | undefined = FCW_INIT;
  const x87 = v.x87;
  if (x87 && x87.source !== 'init' && x87.address !== undefined) {
    const fsave = x87.source === 'fsave-header';
    const o = fsave ? FS : FX;
    const swd = u16(x87.address + BigInt(o.swd)) ?? 0;
    const top = (swd >> 11) & 7;
    const twd = u16(x87.address + BigInt(o.twd)) ?? 0;
    // FSAVE keeps two tag bits per physical register (3 = empty), FXSAVE one (0 = empty).
    const empty = fsave ? ((twd >> (2 * top)) & 3) === 3 : ((twd >> top) & 1) === 0;
    const cw = u16(x87.address + BigInt(o.cwd));
    // FNSTCW reads reserved bit 6 as 1 and bits 7, 13-15 as 0 (Intel SDM Vol. 1 §8.1.5).
    fcw = cw === undefined ? undefined : (cw & 0x1f3f) | 0x40;
    // An empty ST0 stores the indefinite only while invalid-operation is masked (FCW.IM);
    // unmasked, FSTP stores nothing and the child's zeroed slot reads "other".
    st0 = st0Class(copyFromUser(mem, x87.address + BigInt(o.st0), 10), empty);
    if (st0 === 'empty' && fcw !== undefined && (fcw & 1) === 0) st0 = 'other';
  }
  const mxcsr = v.mxcsr?.value;
  const df = v.resumes && (v.resumes.flags & BigInt(EFLAGS.DF)) !== 0n ? 1 : 0;
  const wide = o.wide ? wideRegisters(restored, component) : undefined;
  return observation({ xmm0, ymm0High, st0, fcw, mxcsr, df, tmm0, wide });
}

/** k0, zmm0 bits 256..511 and xmm16 as the child prints them: what the image holds, or INIT's zeros. */
function wideRegisters(
  restored: (nr: number) => boolean,
  component: (nr: number, size: number) => Uint8Array | undefined,
): string {
  const bytes = (nr: number, size: number) =>
    (restored(nr) ? component(nr, size) : undefined) ?? new Uint8Array(size);
  const k0 = bytes(XFEATURE.OPMASK, 8);
  const k0v = new DataView(k0.buffer, k0.byteOffset, 8).getBigUint64(0, true);
  return wideObservation(k0v, hexOf(bytes(XFEATURE.ZMM_Hi256, 32)), hexOf(bytes(XFEATURE.Hi16_ZMM, 16)));
}

const hexOf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const wideObservation = (k0: bigint, zmm0Hi: string, xmm16: string) =>
  `, k0 0x${k0.toString(16)}, zmm0_hi ${zmm0Hi}, xmm16 ${xmm16}`;

function observation(o: {
  xmm0: string;
  ymm0High: string;
  st0: string;
  fcw: number | undefined;
  mxcsr: number | undefined;
  df: number;
  tmm0?: string | undefined;
  wide?: string | undefined;
}): string {
  const h = (n: number | undefined) => (n === undefined ? '?' : `0x${n.toString(16)}`);
  const tiles = o.tmm0 === undefined ? '' : `, tmm0 ${o.tmm0}`;
  return `survived xmm0 ${o.xmm0}, ymm0_high ${o.ymm0High}, st0 ${o.st0}, fcw ${h(o.fcw)}, mxcsr ${h(o.mxcsr)}, df ${o.df}${tiles}${o.wide ?? ''}`;
}

/** What the experiment recorded, in the same words. */
export function kernelObservation(r: Result): string {
  switch (r.outcome) {
    case 'sigsegv':
      return r.phase === 'sigreturn'
        ? 'sigsegv in rt_sigreturn'
        : `sigsegv on return ${r.trapno === 14 ? '#PF' : r.trapno === 13 ? '#GP' : `trap ${r.trapno}`}`;
    case 'signal':
      return `signal ${r.signal}`;
    case 'exit':
      return `exit ${r.status}`;
    default:
      return observation({
        xmm0: r.xmm0 ?? '?',
        ymm0High: r.ymm0_high ?? '?',
        st0: r.st0 ?? '?',
        fcw: r.fcw,
        mxcsr: r.mxcsr,
        df: r.df ?? 0,
        tmm0: r.amx ? (r.tmm0 ?? '?') : undefined,
        wide:
          r.k0 === undefined
            ? undefined
            : wideObservation(r.k0, hexOf(r.zmm0_hi ?? new Uint8Array()), hexOf(r.xmm16 ?? new Uint8Array())),
      });
  }
}

/** Each edited frame of an experiment, rebuilt from the frame the kernel wrote and the edit's patches. */
export function experimentFrames(exp: SigreturnExperiment): { result: Result; memory: Memory }[] {
  const base = new Map<string, { address: bigint; bytes: Uint8Array }>();
  const out: { result: Result; memory: Memory }[] = [];
  for (const r of exp.results ?? []) {
    // A thread that used AMX has frames of its own size: one base frame per kind and AMX state.
    const key = `${r.kind}/${r.amx ?? 'none'}`;
    if (r.frame) base.set(key, r.frame);
    const frame = base.get(key);
    if (!frame) continue;
    const bytes = Uint8Array.from(frame.bytes);
    for (const p of r.patch ?? []) bytes.set(p.bytes.subarray(0, Math.max(0, bytes.length - p.at)), p.at);
    out.push({ result: r, memory: { address: frame.address, bytes } });
  }
  return out;
}

/**
 * Every result of an experiment against the model on `profile` (the CPU it ran on) and
 * `kernel`. MXCSR the kernel takes from its own copy (not the frame) is not compared.
 */
export function compareSigreturnWithKernel(
  exp: SigreturnExperiment,
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
): SigreturnCheck[] {
  // The CPU's MXCSR_MASK, when the profile lacks it, is what the experiment measured on it.
  const cap = profile.file.capture;
  const measured =
    cap && cap.mxcsr_mask === undefined && exp.mxcsr_mask !== undefined
      ? profileFromFile({ ...profile.file, capture: { ...cap, mxcsr_mask: exp.mxcsr_mask } }, profile.origin)
      : profile;
  return experimentFrames(exp).map(({ result: r, memory }) => {
    const d = decodeFrame({ memory, kind: r.kind, profile: measured, kernel, config, amx: r.amx ?? 'none' });
    let got = kernelObservation(r);
    let model = predictedObservation(d.verdict, memory, measured, {
      amx: r.amx !== undefined,
      wide: r.k0 !== undefined,
    });
    // A fault on the first fetch is at the IP the task resumed with: si_addr against the model's.
    const resumed = d.verdict.resumes?.ip;
    if (r.si_addr !== undefined && d.verdict.fault === 'fetch' && resumed !== undefined) {
      got += ` at 0x${r.si_addr.toString(16)}`;
      model += ` at 0x${resumed.toString(16)}`;
    }
    if (d.verdict.mxcsr?.source === 'kernel')
      model = model.replace(/mxcsr [^,]*/, `mxcsr ${/mxcsr ([^,]*)/.exec(got)?.[1]}`);
    const check = { kind: r.kind, edit: r.edit, kernel: got, model, ok: got === model, verdict: d.verdict };
    return r.amx ? { ...check, amx: r.amx } : check;
  });
}
