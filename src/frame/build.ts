import { dataModels } from '../../layouts/abi.js';
import { type FrameDerivation, frameKinds } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { fsaveHeaderSize, mathFrameSize } from '../kernel/fpu_signal.js';
import { getSigframe, type Placement } from '../kernel/signal.js';
import { dynamicXfeatures } from '../kernel/task.js';
import { pagingOf, userRangeError, userSpace } from '../kernel/uaccess.js';
import { encodeInto } from '../schema/encode.js';
import { InputError } from '../schema/errors.js';
import { type FlatField, flatByPath } from '../schema/flat.js';
import { locate } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import { decode } from '../schema/parse.js';
import { valueAt } from '../schema/value.js';
import { bit, bitsOf, extendedComponents, has, maskNames, maskOf } from '../xsave/catalog.js';
import { FREGS_SIZE, storeFsaveHeader } from './fsave.js';
import { frameLayout, sigcontextOf } from './layout.js';
import { encodeSiginfo } from './siginfo.js';
import { type FpuState, type FrameValue, kindHasSiginfo, noSiginfoError, type SignalState } from './state.js';
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
  // The kernel writes the frame with copy_to_user: a frame outside the task's user space faults
  // (SIGSEGV), so no state that places one there describes a delivery.
  const outside = userRangeError(
    entering ? 'delivery.altstack.sp' : 'delivery.sp',
    entering ? (d.altstack?.sp ?? d.sp) : d.sp,
    placement.frame,
    size,
    'the frame the kernel writes',
    userSpace(kind.abi, t.config.bits, pagingOf(t.profile.cpuid)),
  );
  if (outside) throw outside;
  const bytes = new Uint8Array(Number(size));
  const written = new Uint8Array(bytes.length);
  const at = (addr: bigint) => Number(addr - placement.frame);

  const fpu = state.fpu;
  if (fpu) checkFpuState(fpu, t);
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
      const sc = sigcontextOf(value, t.kind);
      const fsave = at(placement.fpstate);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      storeFsaveHeader(view, buf, Number(sc.cs), Number(sc.ds ?? 0), fsave);
      written.fill(1, fsave, fsave + FREGS_SIZE);
    }
  }
  return { address: placement.frame, top, bytes, written, placement, xstateBv, rfbm };
}

/**
 * The FP part of a state against what the builder reads from it: XSTATE_BV within the task's
 * XSAVE features and with FP and SSE (the kernel marks both in every frame, save_xstate_epilog()),
 * register values given for exactly the components XSTATE_BV marks in use, PKRU only for a task
 * that has it; without XSAVE, no XSTATE_BV beyond FP and SSE and no components. What the builder
 * would otherwise drop or override without a word is refused, naming the JSON path — so a state
 * builds the frame it describes, and states that `diff` finds equal build the same bytes.
 */
export function checkFpuState(fpu: FpuState, t: FrameTarget): void {
  const bv = fpu.xstate_bv;
  const user = t.k.xsave ? t.task.userXfeatures : XFEATURE_MASK.FPSSE;
  const task = `this ${t.kind} task on ${t.profile.name} (AMX ${t.amx})`;
  const components = Object.keys(fpu.components).filter(
    (name) => (fpu.components as Record<string, unknown>)[name] !== undefined,
  );
  if (!t.k.xsave) {
    const why = `the kernel saves with ${t.k.fxsr ? 'FXSAVE' : 'FNSAVE'} here (${t.k.xsaveDisabledBecause ?? 'no XSAVE'}): the frame has no XSAVE header and no extended components`;
    if ((bv & ~XFEATURE_MASK.FPSSE) !== 0n)
      throw new InputError(
        `fpu.xstate_bv: 0x${bv.toString(16)} marks ${maskNames(bv & ~XFEATURE_MASK.FPSSE)} in use, but ${why}`,
        {
          path: 'fpu.xstate_bv',
        },
      );
    if (components[0] !== undefined)
      throw new InputError(`fpu.components.${components[0]}: given, but ${why}`, {
        path: `fpu.components.${components[0]}`,
      });
    if (fpu.pkru !== undefined) throw new InputError(`fpu.pkru: given, but ${why}`, { path: 'fpu.pkru' });
    return;
  }
  const outside = bv & ~user;
  if (outside !== 0n) {
    const amx =
      has(outside, XFEATURE.XTILE_DATA) && t.amx !== 'used' ? '; tile data is saved only for amx "used"' : '';
    throw new InputError(
      `fpu.xstate_bv: 0x${bv.toString(16)} marks ${maskNames(outside)} in use, which ${task} does not save (its XSAVE features are 0x${user.toString(16)}, ${maskNames(user)}${amx})`,
      { path: 'fpu.xstate_bv' },
    );
  }
  const legacyMissing = XFEATURE_MASK.FPSSE & ~bv;
  if (legacyMissing !== 0n)
    throw new InputError(
      `fpu.xstate_bv: 0x${bv.toString(16)} lacks ${maskNames(legacyMissing)}: the kernel marks FP and SSE in every signal frame's XSTATE_BV, so a state's has both (0x3)`,
      { path: 'fpu.xstate_bv' },
    );
  for (const name of components) {
    const spec = extendedComponents.find((x) => x.name === name);
    if (spec && has(bv, spec.nr)) continue;
    throw new InputError(
      spec
        ? `fpu.components.${name}: given, but fpu.xstate_bv 0x${bv.toString(16)} does not mark it (bit ${spec.nr}) in use, so the frame would carry its INIT state instead: set the bit or drop the values`
        : `fpu.components.${name}: not a component with registers`,
      { path: `fpu.components.${name}` },
    );
  }
  if (fpu.pkru !== undefined && !has(user, XFEATURE.PKRU))
    throw new InputError(
      `fpu.pkru: given, but ${task} has no PKRU (its XSAVE features are 0x${user.toString(16)}, ${maskNames(user)})`,
      { path: 'fpu.pkru' },
    );
  // fpu.pkru is what the kernel stores into the frame (6.12+); the component's register is where
  // it goes: one value, so two that differ leave no telling which the frame holds.
  const pkruRegister = (fpu.components as { PKRU?: { pkru: number } }).PKRU?.pkru;
  if (fpu.pkru !== undefined && pkruRegister !== undefined && pkruRegister !== fpu.pkru)
    throw new InputError(
      `fpu.pkru: 0x${fpu.pkru.toString(16)}, but fpu.components.PKRU.pkru is 0x${pkruRegister.toString(16)}: the frame holds one PKRU; give it once, or the same in both`,
      { path: 'fpu.pkru' },
    );
  for (const nr of bitsOf(bv)) {
    const spec = extendedComponents.find((x) => x.nr === nr);
    if (!spec || components.includes(spec.name) || (nr === XFEATURE.PKRU && fpu.pkru !== undefined)) continue;
    throw new InputError(
      `fpu.components.${spec.name}: fpu.xstate_bv 0x${bv.toString(16)} marks it (bit ${nr}) in use, but the state has no values for it${nr === XFEATURE.PKRU ? ' (nor fpu.pkru)' : ''}`,
      { path: `fpu.components.${spec.name}` },
    );
  }
}

/** One derived member, resolved for a target: where it sits in the value, its width, its source. */
interface DerivedMember {
  readonly parent: readonly string[];
  readonly name: string;
  readonly field: FlatField;
  readonly source: Exclude<FrameDerivation, 'uc_stack' | 'retcode'> | 'ss_sp' | 'ss_flags' | 'ss_size';
}

/** frameKinds[kind].derived, resolved once per target into member writes. */
const derivedMembers = memo((t: FrameTarget): readonly DerivedMember[] => {
  const kind = frameKinds[t.kind];
  const flat = flatByPath(kind.struct, t.model);
  const member = (path: string, source: DerivedMember['source']): DerivedMember => {
    const field = flat.get(path);
    if (!field) throw new Error(`frameKinds.${t.kind}.derived: ${path} is not an integer member`);
    const parts = path.split('.');
    return { parent: parts.slice(0, -1), name: parts.at(-1)!, field, source };
  };
  return (Object.entries(kind.derived) as [string, FrameDerivation][]).flatMap(([path, source]) =>
    source === 'retcode'
      ? []
      : source === 'uc_stack'
        ? (['ss_sp', 'ss_flags', 'ss_size'] as const).map((m) => member(`${path}.${m}`, m))
        : [member(path, source)],
  );
});

/** A sigset as the frame stores it (a u64, or u32 words) as one number. */
function sigmask(v: unknown): bigint {
  if (Array.isArray(v)) return v.reduce((m: bigint, w: number, i) => m | (BigInt(w) << BigInt(32 * i)), 0n);
  return BigInt(v as number | bigint);
}

/**
 * The frame struct with the members the kernel computes, rather than copies from the interrupted
 * context, filled in as the frame kinds table says (frameKinds[kind].derived; signal_64.c,
 * signal_32.c). sigcontext's sp is regs->sp, the value placement starts from, so `delivery.sp` is
 * its one source. Each value is stored as decode() gives that member: bigint or number, signed or
 * not, of the member's width.
 */
export function kernelFrameMembers(
  state: SignalState,
  t: FrameTarget,
  p: Placement,
  fpstate: bigint,
): FrameValue {
  const kind = frameKinds[t.kind];
  const v = structuredClone(state.frame) as FrameValue;
  if (state.siginfo) {
    // The builder writes what decodeSiginfo() reads: the state's siginfo, laid out for the ABI,
    // over the frame's info — before the members derived from it (ia32 rt `sig` is si_signo).
    if (!kindHasSiginfo(t.kind)) throw noSiginfoError(t.kind, 'siginfo');
    const info = locate(kind.struct, t.model, 'info');
    (v as { info: unknown }).info = decode(info.node, t.model, encodeSiginfo(state.siginfo, kind.abi));
  }
  const alt = state.delivery.altstack;
  const value = (source: DerivedMember['source']): bigint => {
    switch (source) {
      case 'fpstate':
        return fpstate;
      case 'sp':
        return state.delivery.sp;
      case 'sigmask':
        return sigmask(valueAt(v, `${kind.ucontext}.uc_sigmask`));
      case 'address_of_info':
        return p.frame + BigInt(locate(kind.struct, t.model, 'info').offset);
      case 'address_of_uc':
        return p.frame + BigInt(locate(kind.struct, t.model, 'uc').offset);
      case 'signo':
        return BigInt((v as { info: { si_signo: number } }).info.si_signo);
      case 'uc_flags':
        return BigInt(
          (kind.ucFlags ?? []).reduce((f, name) => f | K[name], 0) |
            (t.k.xsave && state.fpu ? K.UC_FP_XSTATE : 0),
        );
      case 'null':
        return 0n;
      case 'ss_sp':
        return alt?.sp ?? 0n;
      case 'ss_flags':
        return BigInt(alt ? alt.flags : K.SS_DISABLE);
      case 'ss_size':
        return alt?.size ?? 0n;
    }
  };
  for (const d of derivedMembers(t)) {
    let parent = v as unknown as Record<string, unknown>;
    for (const step of d.parent) parent = parent[step] as Record<string, unknown>;
    const bits = d.field.size * 8;
    const raw = value(d.source);
    const n = d.field.signed ? BigInt.asIntN(bits, raw) : BigInt.asUintN(bits, raw);
    parent[d.name] = d.field.bigint ? n : Number(n);
  }
  if ('retcode' in kind.derived) (v as { retcode: Uint8Array }).retcode = Uint8Array.from(kind.retcode ?? []);
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
  const image = frameLayout(t).image;
  encodeInto(fpstate_64, dataModels.lp64, legacy, bytes, buf, written);
  const reserved = image.reserved;
  bytes.fill(0, buf + reserved.offset, buf + reserved.offset + reserved.size);
  written.fill(0, buf + reserved.offset, buf + reserved.offset + reserved.size);
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
    buf + image.header.offset,
    written,
  );

  for (const region of image.components.values()) {
    if (!has(rfbm, region.nr)) continue;
    const spec = region;
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
    // XSAVE writes the whole component area, padding included, except what it never stores.
    written.fill(0, buf + region.offset, regionEnd);
    written.fill(1, buf + region.offset, buf + region.offset + region.stores);
  }
  const magic2 = buf + image.userSize;
  new DataView(bytes.buffer).setUint32(magic2, K.FP_XSTATE_MAGIC2, true);
  written.fill(1, magic2, magic2 + K.FP_XSTATE_MAGIC2_SIZE);
  return { xstateBv, rfbm };
}
