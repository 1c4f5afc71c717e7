import { dataModels } from '../../layouts/abi.js';
import { fregs_state } from '../../layouts/frames.js';
import { magicCheckRule } from '../../layouts/kernels.js';
import { fpstate_64, fpx_sw_bytes, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { locate, sizeOf } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import type { Infer } from '../schema/node.js';
import { bit, bitsOf, FIRST_EXTENDED_XFEATURE, maskOf } from '../xsave/catalog.js';
import type { XsaveEnumeration } from '../xsave/enumeration.js';
import { type Region, type XsaveFormat, xsaveLayout } from '../xsave/layout.js';
import {
  fxrstor,
  mxcsrInvalid,
  type RestoreOutcome,
  tilecfgInvalid,
  type XsaveHeaderWords,
  xrstor,
} from '../xsave/restore.js';
import { type KernelChoice, ruleAt } from './eras.js';
import type { TaskFpu } from './task.js';
import {
  accessOk,
  copyFromUser,
  getU32,
  hexAddr,
  type UserMemory,
  userEnd,
  userOffset,
  viewOf,
} from './uaccess.js';
import { hasIa32, type KernelConfig, type KernelXfeatures } from './xstate.js';

/**
 * The FPU part of a signal frame: arch/x86/kernel/fpu/signal.c (Linux 7.3.4; the same rules
 * since 5.16, and with max_size = default_size since 5.14).
 */

/** sizeof(struct fregs_state): the FSAVE header 32-bit frames carry in front of the image. */
export const FREGS_STATE_SIZE = sizeOf(fregs_state, dataModels.lp64);

/** The alignment XSAVE needs for its image (and fpu__alloc_mathframe() gives it). */
export const XSAVE_ALIGNMENT = 64;

/** xstate_sigframe_size(): the task's image plus FP_XSTATE_MAGIC2 behind it when XSAVE is used. */
export function xstateSigframeSize(userSize: number, k: Pick<KernelXfeatures, 'xsave'>): number {
  return userSize + (k.xsave ? K.FP_XSTATE_MAGIC2_SIZE : 0);
}

/**
 * fpu__get_fpstate_size() — the kernel's misnamed `fpu_default_state_size`: the largest math
 * frame any task can get (max_size, not default_size), with the FSAVE header counted whenever
 * 32-bit frames exist, even for 64-bit tasks.
 */
export function fpstateSize(k: KernelXfeatures, config: KernelConfig): number {
  return xstateSigframeSize(k.maxSize, k) + (hasIa32(config) && k.fxsr ? FREGS_STATE_SIZE : 0);
}

/**
 * Bytes of FSAVE header in front of the image: 32-bit frames on a CPU with FXSR (ia32_frame &&
 * use_fxsr() in fpu__alloc_mathframe(), save_fsave_header(), __fpu_restore_sig()).
 */
export function fsaveHeaderSize(ia32Frame: boolean, k: Pick<KernelXfeatures, 'fxsr'>): number {
  return ia32Frame && k.fxsr ? FREGS_STATE_SIZE : 0;
}

/**
 * The math frame's size — image, MAGIC2 and FSAVE header — as fpu__alloc_mathframe() reserves it,
 * save_sw_bytes() records it in sw_reserved.extended_size and fpu__restore_sig() checks access to it.
 */
export function mathFrameSize(
  userSize: number,
  ia32Frame: boolean,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
): number {
  return xstateSigframeSize(userSize, k) + fsaveHeaderSize(ia32Frame, k);
}

export interface MathFrame {
  /** The 64-aligned XSAVE/FXSAVE image (buf_fx). */
  readonly bufFx: bigint;
  /** What sigcontext.fpstate points to: buf_fx, or the FSAVE header below it in 32-bit frames. */
  readonly fpstate: bigint;
  /** Bytes from fpstate to the end of MAGIC2 (the `size` copy_fpstate_to_sigframe() gets). */
  readonly mathSize: number;
}

/** fpu__alloc_mathframe(): where the FP state goes below `sp`. */
export function allocMathframe(
  sp: bigint,
  ia32Frame: boolean,
  userSize: number,
  k: Pick<KernelXfeatures, 'xsave' | 'fxsr'>,
): MathFrame {
  const bufFx = roundDown(sp - BigInt(xstateSigframeSize(userSize, k)), XSAVE_ALIGNMENT);
  return {
    bufFx,
    fpstate: bufFx - BigInt(fsaveHeaderSize(ia32Frame, k)),
    mathSize: mathFrameSize(userSize, ia32Frame, k),
  };
}

export function roundDown(v: bigint, a: number): bigint {
  const m = BigInt(a);
  return v - (((v % m) + m) % m);
}

/* ---- fpu__restore_sig(): what rt_sigreturn does with the frame's FP state ---------------- */

/** One rule the restore went through: the kernel function (or instruction) and what it found. */
export interface RestoreStep {
  readonly rule: string;
  readonly source: string;
  readonly result: string;
}

export interface FpuRestoreContext {
  readonly k: KernelXfeatures;
  readonly task: TaskFpu;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  /** A 32-bit frame (ia32 rt or legacy): restored in software through the kernel's own copy. */
  readonly ia32Frame: boolean;
  /** The CPU's MXCSR_MASK (FXSAVE), which the kernel's mxcsr_feature_mask and XRSTOR both use. */
  readonly mxcsrMask: number;
  /** The CPU's XSAVE components: where each lies in either form. */
  readonly xsave: XsaveEnumeration;
}

/**
 * The bytes an XRSTOR or the kernel's copy reads for `mask`'s extended components, in `format`.
 * Components the CPU does not enumerate have no place and are left out (XRSTOR faults on them first).
 */
const componentRegions = memo(
  (e: XsaveEnumeration, mask: bigint, format: XsaveFormat): readonly Region[] => {
    const known = bitsOf(mask).filter((nr) => nr >= FIRST_EXTENDED_XFEATURE && e.components.has(nr));
    if (known.length === 0) return [];
    return xsaveLayout(e, maskOf(known), format).regions.filter((r) => typeof r.nr === 'number');
  },
  (mask, format) => `${mask}|${format}`,
);

/** The first of `regions` (those `read` selects) not wholly in the input. */
function unreadable(
  mem: UserMemory,
  base: bigint,
  regions: readonly Region[],
  read: (r: Region) => boolean = () => true,
): Region | undefined {
  // The input is one run of bytes: when the span of all the regions is in it, so is each one.
  let end = 0;
  for (const r of regions) end = Math.max(end, r.offset + r.size);
  if (userOffset(mem, base, end) >= 0) return undefined;
  return regions.find((r) => read(r) && userOffset(mem, base + BigInt(r.offset), r.size) < 0);
}

/** Where MXCSR comes from after the restore: the frame, its initial value, or the kernel's stale copy. */
export type MxcsrOrigin = 'frame' | 'init' | 'kernel';
/** Where the x87 registers come from: the FXSAVE image, the ia32 FSAVE header, or INIT. */
export type X87Origin = 'image' | 'fsave-header' | 'init';

export type FpuRestore =
  | { readonly ok: false; readonly reason: string; readonly steps: readonly RestoreStep[] }
  | {
      readonly ok: true;
      /** full: the checks pass and the image is restored; fx-only: only its legacy 512 bytes; init: fpstate is NULL. */
      readonly path: 'full' | 'fx-only' | 'init';
      readonly reason: string;
      /** Components XSTATE_BV says the frame carries (within the task's). */
      readonly carried: bigint;
      readonly restored: bigint;
      readonly init: bigint;
      readonly mxcsr: MxcsrOrigin;
      /**
       * Address MXCSR is read from when it comes from the frame. Present, undefined, otherwise: a
       * literal with a conditional spread takes V8's slow path (µs a verdict).
       */
      readonly mxcsrAt: bigint | undefined;
      readonly x87: X87Origin;
      /** Where the x87 state is read from when it comes from the frame. */
      readonly x87At: bigint | undefined;
      /** Where the restored image starts, and in which form XRSTOR read it. */
      readonly image: bigint;
      readonly format: RestoreOutcome['format'];
      readonly steps: readonly RestoreStep[];
      readonly notes: readonly string[];
    };

const SIGNAL_C = 'arch/x86/kernel/fpu/signal.c (Linux 7.3.4)';
const XSTATE_C = 'arch/x86/kernel/fpu/xstate.c (Linux 7.3.4)';
const SDM_XRSTOR = 'Intel SDM Vol. 1 §13.8';
const SDM_FXRSTOR = 'Intel SDM Vol. 1 §10.5.3';

const SW = locate(fpstate_64, dataModels.lp64, 'sw_reserved');
const MXCSR_AT = locate(fpstate_64, dataModels.lp64, 'mxcsr').offset;
const HEADER_AT = sizeOf(fpstate_64, dataModels.lp64);
const HEADER_SIZE = sizeOf(xstate_header, dataModels.lp64);
const FXSAVE_BYTES = HEADER_AT;
/** sizeof(struct user_i387_ia32_struct): the FSAVE header part __fpu_restore_sig() copies. */
const USER_I387_IA32 = locate(fregs_state, dataModels.ilp32, 'status').offset;

export type Sw = Pick<Infer<typeof fpx_sw_bytes>, 'magic1' | 'extended_size' | 'xfeatures' | 'xstate_size'>;

// The few words the restore reads, at the offsets the uapi structs give: a DataView read each,
// not a whole struct decode per sigreturn verdict.
const SW_AT = Object.fromEntries(
  (['magic1', 'extended_size', 'xfeatures', 'xstate_size'] as const).map((m) => [
    m,
    locate(fpx_sw_bytes, dataModels.lp64, m).offset,
  ]),
) as Record<keyof Sw, number>;
const HDR_AT = {
  xfeatures: locate(xstate_header, dataModels.lp64, 'xfeatures').offset,
  reserved1: locate(xstate_header, dataModels.lp64, 'reserved1'),
  reserved2: locate(xstate_header, dataModels.lp64, 'reserved2'),
};

/** sw_reserved's words, from the bytes where it starts at `at`. */
export function readSw(b: Uint8Array, at: number): Sw {
  const v = viewOf(b);
  return {
    magic1: v.getUint32(at + SW_AT.magic1, true),
    extended_size: v.getUint32(at + SW_AT.extended_size, true),
    xfeatures: v.getBigUint64(at + SW_AT.xfeatures, true),
    xstate_size: v.getUint32(at + SW_AT.xstate_size, true),
  };
}
function readHeader(b: Uint8Array, at: number): XsaveHeaderWords {
  const v = viewOf(b);
  const words = (r: { offset: number; size: number }) => {
    const out: bigint[] = [];
    for (let o = at + r.offset; o < at + r.offset + r.size; o += 8) out.push(v.getBigUint64(o, true));
    return out;
  };
  return {
    xfeatures: v.getBigUint64(at + HDR_AT.xfeatures, true),
    reserved1: words(HDR_AT.reserved1),
    reserved2: words(HDR_AT.reserved2),
  };
}

/**
 * check_xstate_in_sigframe() (arch/x86/kernel/fpu/signal.c): whether sw_reserved and MAGIC2
 * describe an XSAVE image, under the rule the kernel version has (layouts/kernels.ts
 * magicCheckRule). Anything off makes the restore fx-only; a fault reading MAGIC2 fails it.
 */
export function checkXstateInSigframe(
  mem: UserMemory,
  bufFx: bigint,
  ctx: Pick<FpuRestoreContext, 'task' | 'kernel'>,
): { fault: string } | { sw: Sw; fxOnly?: string; passed?: string } {
  const raw = userOffset(mem, bufFx + BigInt(SW.offset), SW.size);
  if (raw < 0) return { fault: `sw_reserved at ${hexAddr(bufFx + BigInt(SW.offset))} is not readable` };
  const sw = readSw(mem.bytes, raw);
  const rule = ruleAt(magicCheckRule, ctx.kernel);
  const userSize = ctx.task.userSize;
  if (sw.magic1 !== K.FP_XSTATE_MAGIC1)
    return { sw, fxOnly: `sw_reserved.magic1 is ${hexAddr(sw.magic1)}, not FP_XSTATE_MAGIC1` };
  let at: number;
  if (rule.value === 'frame') {
    const min = FXSAVE_BYTES + HEADER_SIZE;
    if (sw.xstate_size < min) return { sw, fxOnly: `sw_reserved.xstate_size ${sw.xstate_size} < ${min}` };
    if (sw.xstate_size > userSize)
      return { sw, fxOnly: `sw_reserved.xstate_size ${sw.xstate_size} > the task's user_size ${userSize}` };
    if (sw.xstate_size > sw.extended_size)
      return { sw, fxOnly: `sw_reserved.xstate_size ${sw.xstate_size} > extended_size ${sw.extended_size}` };
    at = sw.xstate_size;
  } else at = userSize;
  const where =
    rule.value === 'frame' ? 'fpstate + xstate_size' : `fpstate + the task's user_size (${rule.why})`;
  const magic2 = getU32(mem, bufFx + BigInt(at));
  if (magic2 === undefined)
    return { fault: `MAGIC2 at ${where}, ${hexAddr(bufFx + BigInt(at))}, is not readable` };
  if (magic2 !== K.FP_XSTATE_MAGIC2)
    return { sw, fxOnly: `MAGIC2 at ${where} is ${hexAddr(magic2)}, not FP_XSTATE_MAGIC2` };
  return {
    sw,
    passed:
      rule.value === 'frame'
        ? 'magic1, xstate_size (576 ≤ it ≤ user_size, extended_size) and MAGIC2 at fpstate + xstate_size check out'
        : `magic1 and MAGIC2 at fpstate + user_size check out (the refined rule: ${rule.why})`,
  };
}

/**
 * fpu__restore_sig() and __fpu_restore_sig() (arch/x86/kernel/fpu/signal.c, Linux 7.3.4): the
 * FP state at `fpstate` restored for the task. A 64-bit frame goes straight to XRSTOR (or
 * FXRSTOR when the checks fail) from user memory; a 32-bit frame is copied into the kernel's
 * buffer — validated by copy_uabi_to_xstate() — with x87 state taken from the FSAVE header,
 * then restored with XRSTORS. A failure is rt_sigreturn's "bad frame".
 */
export function fpuRestoreSig(mem: UserMemory, fpstate: bigint, ctx: FpuRestoreContext): FpuRestore {
  const steps: RestoreStep[] = [];
  const notes: string[] = [];
  const step = (rule: string, source: string, result: string) => steps.push({ rule, source, result });
  const fail = (rule: string, source: string, reason: string): FpuRestore => {
    step(rule, source, reason);
    return { ok: false, reason, steps };
  };
  const { k, task } = ctx;
  const all = task.userXfeatures | XFEATURE_MASK.FPSSE;
  if (fpstate === 0n) {
    step('fpu__restore_sig', SIGNAL_C, 'sigcontext.fpstate is NULL: fpu__clear_user_states()');
    return {
      ok: true,
      path: 'init',
      reason: 'sigcontext.fpstate is NULL: every FPU register is reset to its initial state',
      carried: 0n,
      restored: 0n,
      init: all,
      mxcsr: 'init',
      mxcsrAt: undefined,
      x87: 'init',
      x87At: undefined,
      image: 0n,
      format: 'standard',
      steps,
      notes,
    };
  }
  const ia32Fx = ctx.ia32Frame && k.fxsr;
  const bufFx = fpstate + BigInt(ia32Fx ? FREGS_STATE_SIZE : 0);
  const size = mathFrameSize(task.userSize, ctx.ia32Frame, k);
  const end = userEnd(ctx.ia32Frame ? 32 : 64, ctx.config.bits);
  if (!accessOk(fpstate, size, end))
    return fail(
      'access_ok',
      SIGNAL_C,
      `fpstate ${hexAddr(fpstate)} + ${size} bytes is not user memory (access_ok() fails)`,
    );
  step('access_ok', SIGNAL_C, `fpstate ${hexAddr(fpstate)} + ${size} bytes is user memory`);

  let sw: Sw | undefined;
  let fxOnly: string | undefined;
  if (k.xsave) {
    const c = checkXstateInSigframe(mem, bufFx, ctx);
    if ('fault' in c) return fail('check_xstate_in_sigframe', SIGNAL_C, c.fault);
    sw = c.sw;
    fxOnly = c.fxOnly;
    step('check_xstate_in_sigframe', SIGNAL_C, fxOnly ?? c.passed ?? '');
  } else fxOnly = 'the kernel does not use XSAVE on this CPU';

  const legacy = userOffset(mem, bufFx, FXSAVE_BYTES) >= 0;
  const mxcsrAddr = bufFx + BigInt(MXCSR_AT);
  const mxcsrOf = () => getU32(mem, mxcsrAddr)!;
  const carriedOf = (hdr: XsaveHeaderWords | undefined) => (hdr ? hdr.xfeatures & all : 0n);

  if (!ia32Fx) {
    // restore_fpregs_from_user(): XRSTOR (or FXRSTOR) reads the user image itself; a fault other
    // than a page fault it can fault in fails the restore.
    if (!legacy)
      return fail('restore_fpregs_from_user', SIGNAL_C, `the image at ${hexAddr(bufFx)} is not readable`);
    const mxcsr = mxcsrOf();
    if (fxOnly !== undefined || !k.xsave) {
      const r = k.fxsr ? fxrstor({ address: bufFx, mxcsr, mxcsrMask: ctx.mxcsrMask }) : undefined;
      if (r?.fault) return fail('FXRSTOR', SDM_FXRSTOR, r.fault);
      step(
        k.fxsr ? 'FXRSTOR' : 'FRSTOR',
        k.fxsr ? SDM_FXRSTOR : 'Intel SDM Vol. 1 §8.1.10',
        'loads the legacy region',
      );
      const restored = k.fxsr ? XFEATURE_MASK.FPSSE : XFEATURE_MASK.FP;
      return {
        ok: true,
        path: 'fx-only',
        reason: `${fxOnly}: only the legacy x87/SSE state is restored`,
        carried: restored,
        restored,
        init: all & ~restored,
        mxcsr: k.fxsr ? 'frame' : 'init',
        mxcsrAt: k.fxsr ? mxcsrAddr : undefined,
        x87: 'image',
        x87At: bufFx,
        image: bufFx,
        format: k.fxsr ? 'fxsave' : 'fsave',
        steps,
        notes,
      };
    }
    const hdrAt = userOffset(mem, bufFx + BigInt(HEADER_AT), HEADER_SIZE);
    if (hdrAt < 0)
      return fail(
        'XRSTOR',
        SDM_XRSTOR,
        `the XSAVE header at ${hexAddr(bufFx + BigInt(HEADER_AT))} is not readable`,
      );
    const header = readHeader(mem.bytes, hdrAt);
    // d877550eaf2d (v6.8; 6.7.6, 6.6.18, 6.1.79): only the task's features are requested.
    const rfbm = sw!.xfeatures & task.userXfeatures;
    const r = xrstor({
      address: bufFx,
      rfbm: rfbm & k.xcr0,
      xcr0: k.xcr0,
      header,
      mxcsr,
      mxcsrMask: ctx.mxcsrMask,
      compaction: k.xsavec,
    });
    if (r.fault) return fail('XRSTOR', SDM_XRSTOR, r.fault);
    // The compacted form packs what XCOMP_BV names, so offsets follow from all of it; XRSTOR
    // reads only the components it loads.
    const placed =
      r.format === 'compacted'
        ? componentRegions(ctx.xsave, (header.reserved1[0] ?? 0n) & ~(1n << 63n), 'compacted')
        : componentRegions(ctx.xsave, r.loaded, 'standard');
    const gap = unreadable(mem, bufFx, placed, (reg) => (r.loaded & bit(reg.nr as number)) !== 0n);
    if (gap)
      return fail(
        'restore_fpregs_from_user',
        SIGNAL_C,
        `${gap.name} at ${hexAddr(bufFx + BigInt(gap.offset))} is not readable: XRSTOR faults and fault_in_readable() fails`,
      );
    step(
      'XRSTOR',
      SDM_XRSTOR,
      `${r.format} form; RFBM ${hexAddr(rfbm)} (sw_reserved.xfeatures ∧ the task's user_xfeatures)`,
    );
    // An invalid TILECFG does not fault XRSTOR: the CPU leaves the tiles unconfigured (INIT), as
    // seen on an Intel Xeon (test/fixtures/sigreturn/intel-xeon-amx, xcomp_bv_compacted).
    let loaded = r.loaded;
    const cfgAt = placed.find((x) => x.nr === XFEATURE.XTILE_CFG);
    if (cfgAt && (loaded & XFEATURE_MASK.XTILE_CFG) !== 0n) {
      const cfg = copyFromUser(mem, bufFx + BigInt(cfgAt.offset), 64);
      const bad = cfg && tilecfgInvalid(cfg);
      if (bad) {
        loaded &= ~XFEATURE_MASK.XTILE;
        step(
          'XRSTOR',
          SDM_XRSTOR,
          `TILECFG at ${hexAddr(bufFx + BigInt(cfgAt.offset))} is not a valid tile configuration (${bad}): the tiles are left in INIT`,
        );
      }
    }
    const notRequested = task.userXfeatures & ~rfbm;
    if (notRequested !== 0n)
      step(
        '__restore_fpregs_from_user',
        SIGNAL_C,
        `os_xrstor(init_fpstate, ${hexAddr(notRequested)}): not requested, set to INIT`,
      );
    if (r.format === 'compacted')
      notes.push('the image is in the compacted form: XRSTOR reads each component at its compacted offset');
    const ignored = sw!.xfeatures & ~task.userXfeatures;
    if (ignored !== 0n)
      notes.push(`sw_reserved.xfeatures bits ${hexAddr(ignored)} are not the task's and are ignored`);
    if (header.reserved2.some((w) => w !== 0n) && r.format === 'standard')
      notes.push('XSAVE header bytes 24..63 are not zero; the standard form of XRSTOR does not check them');
    // MXCSR left alone by XRSTOR is reset with the rest of SSE by the INIT restore after it.
    const mxcsrFrom: MxcsrOrigin = r.mxcsr === 'image' ? 'frame' : 'init';
    return {
      ok: true,
      path: 'full',
      reason: 'the checks pass: XRSTOR restores the frame',
      carried: carriedOf(header),
      restored: loaded,
      init: all & ~loaded,
      mxcsr: mxcsrFrom,
      mxcsrAt: mxcsrFrom === 'frame' ? mxcsrAddr : undefined,
      x87: (r.loaded & XFEATURE_MASK.FP) !== 0n ? 'image' : 'init',
      x87At: (r.loaded & XFEATURE_MASK.FP) !== 0n ? bufFx : undefined,
      image: bufFx,
      format: r.format,
      steps,
      notes,
    };
  }

  // The 32-bit path: the FSAVE header first, then the image into the kernel's buffer.
  if (userOffset(mem, fpstate, USER_I387_IA32) < 0)
    return fail('__fpu_restore_sig', SIGNAL_C, `the FSAVE header at ${hexAddr(fpstate)} is not readable`);
  let carried: bigint;
  let buffered: bigint;
  let mxcsrFromFrame: boolean;
  if (k.xsave && fxOnly === undefined) {
    const hdrAt = bufFx + BigInt(HEADER_AT);
    const hdrOff = userOffset(mem, hdrAt, HEADER_SIZE);
    if (hdrOff < 0)
      return fail('copy_uabi_to_xstate', XSTATE_C, `the XSAVE header at ${hexAddr(hdrAt)} is not readable`);
    const header = readHeader(mem.bytes, hdrOff);
    const v = validateUserXstateHeader(header, task.userXfeatures);
    if (v) return fail('validate_user_xstate_header', XSTATE_C, v);
    const { FP, SSE, YMM } = XFEATURE_MASK;
    mxcsrFromFrame = (header.xfeatures & (FP | SSE | YMM)) !== 0n;
    if (mxcsrFromFrame) {
      const mx = getU32(mem, mxcsrAddr);
      if (mx === undefined)
        return fail('copy_uabi_to_xstate', XSTATE_C, `MXCSR at ${hexAddr(mxcsrAddr)} is not readable`);
      const bad = mxcsrInvalid(mx, ctx.mxcsrMask);
      if (bad) return fail('copy_uabi_to_xstate', XSTATE_C, `${bad} (EINVAL)`);
    }
    const gap = unreadable(mem, bufFx, componentRegions(ctx.xsave, header.xfeatures, 'standard'));
    if (gap)
      return fail(
        'copy_uabi_to_xstate',
        XSTATE_C,
        `${gap.name} at ${hexAddr(bufFx + BigInt(gap.offset))} is not readable`,
      );
    step(
      'copy_uabi_to_xstate',
      XSTATE_C,
      `header valid; ${mxcsrFromFrame ? 'MXCSR checked against MXCSR_MASK; ' : ''}components ${hexAddr(header.xfeatures)} copied`,
    );
    carried = header.xfeatures & all;
    buffered = sw!.xfeatures;
  } else {
    if (!legacy)
      return fail('__fpu_restore_sig', SIGNAL_C, `the FXSAVE image at ${hexAddr(bufFx)} is not readable`);
    const mx = mxcsrOf();
    const bad = mxcsrInvalid(mx, ctx.mxcsrMask);
    // CONFIG_X86_32 masks bad bits instead of refusing them ("broken hardware").
    if (bad && ctx.config.bits === 64) return fail('__fpu_restore_sig', SIGNAL_C, `${bad}: refused`);
    step(
      '__fpu_restore_sig',
      SIGNAL_C,
      `fx-only: the 512-byte image copied${bad ? '; bad MXCSR bits masked (32-bit kernel)' : ''}`,
    );
    carried = XFEATURE_MASK.FPSSE;
    buffered = XFEATURE_MASK.FPSSE;
    mxcsrFromFrame = true;
  }
  step('convert_to_fxsr', SIGNAL_C, 'x87 registers and control words taken from the FSAVE header');
  // fpregs->xsave.header.xfeatures &= user_xfeatures, then XRSTORS of the kernel's buffer.
  const restored = carried & buffered;
  const { FP, SSE } = XFEATURE_MASK;
  let mxcsr: MxcsrOrigin;
  if (k.xsaves) mxcsr = (restored & SSE) !== 0n ? 'frame' : 'init';
  else mxcsr = mxcsrFromFrame ? 'frame' : 'kernel';
  if (mxcsr === 'kernel')
    notes.push(
      "MXCSR comes from the kernel's own copy of the task's state, not the frame (XSTATE_BV has no FP, SSE or YMM)",
    );
  step(
    k.xsaves ? 'XRSTORS' : k.xsave ? 'XRSTOR' : 'FXRSTOR',
    SDM_XRSTOR,
    `restores ${hexAddr(restored)} from the kernel's copy`,
  );
  const ignored = (sw?.xfeatures ?? 0n) & ~task.userXfeatures;
  if (ignored !== 0n && fxOnly === undefined)
    notes.push(`sw_reserved.xfeatures bits ${hexAddr(ignored)} are not the task's and are ignored`);
  return {
    ok: true,
    path: fxOnly === undefined ? 'full' : 'fx-only',
    reason:
      fxOnly === undefined
        ? "the checks pass: the image is copied into the kernel's buffer and restored from there"
        : `${fxOnly}: only the legacy x87/SSE state is restored`,
    carried,
    restored,
    init: all & ~restored,
    mxcsr,
    mxcsrAt: mxcsr === 'frame' ? mxcsrAddr : undefined,
    x87: (restored & FP) !== 0n ? 'fsave-header' : 'init',
    x87At: (restored & FP) !== 0n ? fpstate : undefined,
    image: bufFx,
    format: 'standard',
    steps,
    notes,
  };
}

/**
 * validate_user_xstate_header() (arch/x86/kernel/fpu/xstate.c): the header a 32-bit frame's image
 * must have — only the task's features, the standard form, and zero reserved bytes.
 */
export function validateUserXstateHeader(h: XsaveHeaderWords, userXfeatures: bigint): string | undefined {
  const foreign = h.xfeatures & ~userXfeatures;
  if (foreign !== 0n)
    return `XSTATE_BV ${hexAddr(h.xfeatures)} sets ${hexAddr(foreign)}, outside the task's user_xfeatures ${hexAddr(userXfeatures)} (EINVAL)`;
  if ((h.reserved1[0] ?? 0n) !== 0n)
    return `XCOMP_BV is ${hexAddr(h.reserved1[0]!)}: user images must be in the standard form (EINVAL)`;
  if ((h.reserved1[1] ?? 0n) !== 0n || h.reserved2.some((w) => w !== 0n))
    return 'reserved XSAVE header bytes 16..63 are not zero (EINVAL)';
  return undefined;
}
