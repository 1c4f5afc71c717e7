import { dataModels } from '../../layouts/abi.js';
import { frameKinds, fregs_state } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { fsaveHeaderSize, mathFrameSize } from '../kernel/fpu_signal.js';
import { getSigframe, type Placement } from '../kernel/signal.js';
import { dynamicXfeatures } from '../kernel/task.js';
import { encodeInto } from '../schema/encode.js';
import { InputError } from '../schema/errors.js';
import { locate, sizeOf } from '../schema/layout.js';
import { bit, FXSAVE_SIZE, has, maskOf } from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import { fsaveHeader } from './fsave.js';
import { extendedComponents, type FpuState, type FrameValue, type SignalState } from './state.js';
import type { FrameTarget } from './target.js';

/** A frame as the kernel writes it: the bytes from the frame start to the stack top. */
export interface BuiltFrame {
  /** Address of bytes[0]: the frame start, the handler's stack pointer. */
  readonly address: bigint;
  /** One past the last byte: the alt stack top, or the interrupted sp on the normal stack. */
  readonly top: bigint;
  readonly bytes: Uint8Array;
  /** 1 where the kernel writes; 0 where it leaves the stack alone (padding, gaps, skipped state). */
  readonly written: Uint8Array;
  readonly placement: Placement;
  /** XSTATE_BV the frame carries, and the components XSAVE wrote (RFBM). */
  readonly xstateBv: bigint;
  readonly rfbm: bigint;
}

const MAX_REGION = 1 << 24;

/**
 * Builds the bytes the kernel writes for `state`: placement (get_sigframe), the frame struct
 * (signal_64.c / signal_32.c), the FSAVE header of 32-bit frames, the XSAVE image with its
 * sw_reserved and header, and MAGIC2 (arch/x86/kernel/fpu/signal.c, Linux 7.3.4).
 */
export function buildFrame(state: SignalState, t: FrameTarget): BuiltFrame {
  const kind = frameKinds[t.kind];
  const era = t.kernel.era;
  const d = state.delivery;
  const placement = getSigframe(
    kind,
    {
      sp: d.sp,
      onstack: d.onstack,
      ...(d.altstack
        ? { altstack: { ...d.altstack, autodisarm: (d.altstack.flags & K.SS_AUTODISARM) !== 0 } }
        : {}),
    },
    t.task,
    t.k,
    era,
    t.config,
  );
  if (placement.outcome === 'sigsegv') {
    throw new InputError(
      `the kernel would not deliver this signal: the frame would start at 0x${placement.frame.toString(16)}, below the alt stack at 0x${d.altstack?.sp.toString(16)} (SIGSEGV instead)`,
      { path: 'delivery.altstack' },
    );
  }
  const entering = placement.onAltstack && !placement.nested;
  const top = entering ? placement.start : d.sp;
  const size = top - placement.frame;
  if (size <= 0n || size > BigInt(MAX_REGION)) {
    throw new InputError(`frame region of ${size} bytes below 0x${top.toString(16)}: not a plausible stack`, {
      path: 'delivery.sp',
    });
  }
  const bytes = new Uint8Array(Number(size));
  const written = new Uint8Array(bytes.length);
  const at = (addr: bigint) => Number(addr - placement.frame);

  const fpu = state.fpu;
  const fpstatePtr = fpu ? placement.fpstate : 0n;
  const value = kernelFrameMembers(state, t, placement, fpstatePtr);
  encodeInto(kind.struct, t.model, value as never, bytes, 0, written);
  for (const path of kind.copiedWhole) {
    const m = locate(kind.struct, t.model, path);
    written.fill(1, m.offset, m.offset + m.size);
  }
  for (const path of kind.kernelSkips) {
    const m = locate(kind.struct, t.model, path);
    bytes.fill(0, m.offset, m.offset + m.size);
    written.fill(0, m.offset, m.offset + m.size);
  }

  let xstateBv = 0n;
  let rfbm = 0n;
  if (fpu) {
    const buf = at(placement.bufFx);
    ({ xstateBv, rfbm } = writeXsaveImage(fpu, t, bytes, written, buf));
    if (fsaveHeaderSize(kind.fsaveHeader, t.k) > 0) {
      const sc = scOf(value);
      encodeInto(
        fregs_state,
        dataModels.ilp32,
        fsaveHeader(fpu.legacy, Number(sc.cs), Number(sc.ds ?? 0)),
        bytes,
        at(placement.fpstate),
        written,
      );
    }
  }
  return { address: placement.frame, top, bytes, written, placement, xstateBv, rfbm };
}

interface ScView {
  cs: number | bigint;
  ds?: number | bigint;
}

function scOf(v: FrameValue): ScView {
  if ('sc' in v) return v.sc;
  return v.uc.uc_mcontext;
}

/** sigcontext members the kernel derives (from the placement and the signal mask), not the program's registers. */
export const KERNEL_DERIVED_SIGCONTEXT: readonly string[] = ['fpstate', 'sp', 'sp_at_signal', 'oldmask'];

/**
 * The frame struct with the members the kernel computes, rather than copies from the interrupted
 * context, filled in. sigcontext's sp is regs->sp, the value placement starts from, so
 * `delivery.sp` is its one source.
 */
export function kernelFrameMembers(
  state: SignalState,
  t: FrameTarget,
  p: Placement,
  fpstate: bigint,
): FrameValue {
  const kind = frameKinds[t.kind];
  const v = structuredClone(state.frame) as FrameValue;
  const alt = state.delivery.altstack;
  const flags =
    (kind.ucFlags ?? []).reduce((f, name) => f | K[name], 0) | (t.k.xsave && state.fpu ? K.UC_FP_XSTATE : 0);
  const ss = { sp: alt?.sp ?? 0n, size: alt?.size ?? 0n, flags: alt ? alt.flags : K.SS_DISABLE };
  const sp = state.delivery.sp;
  if ('sc' in v) {
    // Legacy ia32: the mask is split between sigcontext.oldmask and extramask.
    v.sc.fpstate = Number(fpstate);
    v.sc.sp = Number(sp);
    v.sc.sp_at_signal = Number(sp);
    v.retcode = Uint8Array.from(kind.retcode ?? []);
    return v;
  }
  if ('pinfo' in v) {
    const off = (m: string) => BigInt(locate(kind.struct, t.model, m).offset);
    v.pinfo = Number(p.frame + off('info'));
    v.puc = Number(p.frame + off('uc'));
    v.sig = v.info.si_signo;
    v.uc.uc_flags = flags;
    v.uc.uc_link = 0;
    v.uc.uc_stack = { ss_sp: Number(ss.sp), ss_flags: ss.flags, ss_size: Number(ss.size) };
    v.uc.uc_mcontext.fpstate = Number(fpstate);
    v.uc.uc_mcontext.sp = Number(sp);
    v.uc.uc_mcontext.sp_at_signal = Number(sp);
    v.uc.uc_mcontext.oldmask = v.uc.uc_sigmask[0]!;
    v.retcode = Uint8Array.from(kind.retcode ?? []);
    return v;
  }
  if (Array.isArray(v.uc.uc_sigmask)) {
    // x32: 32-bit ucontext around the 64-bit sigcontext.
    const m = v.uc.uc_sigmask as number[];
    v.uc.uc_flags = flags;
    v.uc.uc_link = 0;
    v.uc.uc_stack = { ss_sp: Number(ss.sp), ss_flags: ss.flags, ss_size: Number(ss.size) };
    v.uc.uc_mcontext.fpstate = fpstate;
    v.uc.uc_mcontext.sp = sp;
    v.uc.uc_mcontext.oldmask = BigInt(m[0]!) | (BigInt(m[1]!) << 32n);
    return v;
  }
  const uc = v.uc as Extract<FrameValue, { pretcode: bigint; uc: { uc_sigmask: bigint } }>['uc'];
  uc.uc_flags = BigInt(flags);
  uc.uc_link = 0n;
  uc.uc_stack = { ss_sp: ss.sp, ss_flags: ss.flags, ss_size: ss.size };
  uc.uc_mcontext.fpstate = fpstate;
  uc.uc_mcontext.sp = sp;
  uc.uc_mcontext.oldmask = uc.uc_sigmask;
  return v;
}

/**
 * copy_fpstate_to_sigframe() for XSAVE: the header is zeroed first, then XSAVE (standard format)
 * writes every component in RFBM — user_xfeatures, minus the INIT-skipped AMX components on
 * kernels with dynamic features — and sets XSTATE_BV to XINUSE ∩ RFBM; the kernel then marks FP
 * and SSE, handles PKRU per era, fills sw_reserved and appends MAGIC2. Components outside RFBM
 * (and FXSAVE's reserved bytes 416..463) are left as they were on the stack.
 */
function writeXsaveImage(
  fpu: FpuState,
  t: FrameTarget,
  bytes: Uint8Array,
  written: Uint8Array,
  buf: number,
): { xstateBv: bigint; rfbm: bigint } {
  const kind = frameKinds[t.kind];
  const era = t.kernel.era;
  const user = t.task.userXfeatures;
  const legacy = {
    ...fpu.legacy,
    sw_reserved: {
      magic1: t.k.xsave || t.k.fxsr ? K.FP_XSTATE_MAGIC1 : 0,
      extended_size: mathFrameSize(t.task.userSize, kind.fsaveHeader, t.k),
      xfeatures: user,
      xstate_size: t.task.userSize,
      padding: [0, 0, 0, 0, 0, 0, 0],
    },
  };
  encodeInto(fpstate_64, dataModels.lp64, legacy, bytes, buf, written);
  const reserved2 = locate(fpstate_64, dataModels.lp64, 'reserved2');
  bytes.fill(0, buf + reserved2.offset, buf + reserved2.offset + reserved2.size);
  written.fill(0, buf + reserved2.offset, buf + reserved2.offset + reserved2.size);
  if (!t.k.xsave) return { xstateBv: 0n, rfbm: 0n };

  const dynamic = dynamicXfeatures(t.k, era) !== 0n;
  const supported = maskOf(era.userSupported);
  let rfbm = user;
  if (dynamic) rfbm &= fpu.xstate_bv | (supported & ~XFEATURE_MASK.SIGFRAME_INITOPT);
  let xstateBv = (fpu.xstate_bv & rfbm) | XFEATURE_MASK.FPSSE;
  if (has(rfbm, XFEATURE.PKRU) && era.pkruXstateBv !== 'xinuse') {
    xstateBv = era.pkruXstateBv === 'set' ? xstateBv | bit(XFEATURE.PKRU) : xstateBv & ~bit(XFEATURE.PKRU);
  }
  encodeInto(
    xstate_header,
    dataModels.lp64,
    { xfeatures: xstateBv, reserved1: [0n, 0n], reserved2: [0n, 0n, 0n, 0n, 0n] },
    bytes,
    buf + FXSAVE_SIZE,
    written,
  );

  const layout = xsaveLayout(t.profile.xsave, rfbm, 'standard');
  for (const region of layout.regions) {
    if (typeof region.nr !== 'number' || region.nr < 2) continue;
    const spec = extendedComponents.find((x) => x.nr === region.nr);
    if (!spec) {
      bytes.fill(0, buf + region.offset, buf + region.offset + region.size);
      written.fill(1, buf + region.offset, buf + region.offset + region.size);
      continue;
    }
    const values = fpu.components as Record<string, unknown>;
    let v = values[spec.name];
    if (region.nr === XFEATURE.PKRU && fpu.pkru !== undefined) v = { pkru: fpu.pkru, pad: 0 };
    const inUse = has(xstateBv, region.nr) || (region.nr === XFEATURE.PKRU && v !== undefined);
    if (inUse && v === undefined) {
      throw new InputError(
        region.nr === XFEATURE.PKRU
          ? 'fpu.pkru: this kernel stores the interrupted PKRU in every frame, and the state gives none'
          : `fpu.components.${spec.name}: XSTATE_BV marks it in use, but the state has no values for it`,
        { path: region.nr === XFEATURE.PKRU ? 'fpu.pkru' : `fpu.components.${spec.name}` },
      );
    }
    const regionEnd = buf + region.offset + region.size;
    if (inUse) encodeInto(spec.registers, dataModels.lp64, v as never, bytes, buf + region.offset, written);
    else {
      bytes.fill(0, buf + region.offset, regionEnd);
      written.fill(1, buf + region.offset, regionEnd);
    }
    // XSAVE writes the whole component area, padding included.
    written.fill(
      1,
      buf + region.offset,
      Math.min(regionEnd, buf + region.offset + sizeOf(spec.registers, dataModels.lp64)),
    );
  }
  const magic2 = buf + t.task.userSize;
  new DataView(bytes.buffer).setUint32(magic2, K.FP_XSTATE_MAGIC2, true);
  written.fill(1, magic2, magic2 + K.FP_XSTATE_MAGIC2_SIZE);
  return { xstateBv, rfbm };
}
