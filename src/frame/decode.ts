import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds, fregs_state } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import type { KernelChoice } from '../kernel/eras.js';
import { fsaveHeaderSize } from '../kernel/fpu_signal.js';
import { frameGeometry } from '../kernel/signal.js';
import { type AmxState, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError } from '../schema/errors.js';
import { locate, sizeOf } from '../schema/layout.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { bitsOf, FXSAVE_SIZE, xfeatureName } from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import { assembleRegisters, type Registers } from './registers.js';
import { type Memory, sigreturnVerdict, type Verdict } from './sigreturn.js';
import { type ComponentValues, extendedComponents, type FrameValue, type SignalState } from './state.js';
import { type FrameTarget, frameTarget } from './target.js';

/** Where the frame is: given directly, through its ucontext, or below an alt stack top. */
export type FrameLocation = { frame: bigint } | { ucontext: bigint } | { top: bigint } | undefined;

export interface DecodeRequest {
  readonly memory: Memory;
  readonly kind: FrameKindName;
  readonly profile: Profile;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  /** The task's AMX state; by default inferred from sw_reserved.xstate_size. */
  readonly amx?: AmxState;
  readonly locate?: FrameLocation;
  /** How a state should name the profile (a file path or shipped name); default: its name. */
  readonly profileRef?: string;
  /** How the signal was delivered, when known (a capture records it); else read from uc_stack. */
  readonly delivery?: SignalState['delivery'];
}

export interface DecodedFrame {
  readonly state: SignalState;
  readonly frame: bigint;
  readonly fpstate: bigint;
  readonly buf_fx: bigint | null;
  readonly sw_reserved: Infer<typeof fpstate_64>['sw_reserved'] | null;
  readonly fsave_header: Infer<typeof fregs_state> | null;
  /** Components XSTATE_BV says the frame carries, by name. */
  readonly written: readonly string[];
  readonly registers: Registers | null;
  readonly verdict: Verdict;
  readonly notes: readonly string[];
}

function at(mem: Memory, addr: bigint, what: string): number {
  const off = addr - mem.address;
  if (off < 0n || off >= BigInt(mem.bytes.length)) {
    throw new DecodeError(
      `${what} at 0x${addr.toString(16)} is outside the input (${mem.bytes.length} bytes from 0x${mem.address.toString(16)})`,
      { offset: Number(off < 0n ? 0n : off) },
    );
  }
  return Number(off);
}

function fpstateOf(v: FrameValue): bigint {
  if ('sc' in v) return BigInt(v.sc.fpstate);
  return BigInt(v.uc.uc_mcontext.fpstate);
}

/** The AMX state whose user_size matches the frame's xstate_size, else none. */
function inferAmx(t: FrameTarget, kind: FrameKindName, xstateSize: number | undefined): AmxState {
  const states = possibleAmxStates(t.k, t.kernel.era, t.config, frameKinds[kind].abi);
  return states.includes('used') && xstateSize === t.k.maxSize && t.k.maxSize !== t.k.defaultSize
    ? 'used'
    : 'none';
}

/**
 * Reads a frame from captured bytes: the frame struct, the FP state it points to, the registers,
 * and the verdict rt_sigreturn would reach. Every offset is checked against the input first;
 * a frame that does not fit is a DecodeError naming the member and byte offset.
 */
export function decodeFrame(req: DecodeRequest): DecodedFrame {
  const mem = req.memory;
  const kind = frameKinds[req.kind];
  let t = frameTarget(req.kind, req.profile, req.kernel, req.config, req.amx ?? 'none');
  const loc = req.locate;
  let frame = mem.address;
  if (loc && 'frame' in loc) frame = loc.frame;
  else if (loc && 'ucontext' in loc) {
    if (!('uc' in kind.struct.fields)) {
      throw new DecodeError(`${req.kind} frames have no ucontext; locate them with --frame or --top`, {
        path: 'ucontext',
      });
    }
    frame = loc.ucontext - BigInt(locate(kind.struct, t.model, 'uc').offset);
  } else if (loc && 'top' in loc) {
    frame = frameGeometry(kind, loc.top, t.task, t.k, t.config).frame;
  }
  const off = at(mem, frame, 'the frame');
  decode(kind.struct, t.model, mem.bytes, off); // bounds: a DecodeError names the member cut off
  // The state holds what the kernel writes: members it never writes read as zero, not stale stack.
  const size = sizeOf(kind.struct, t.model);
  const own = mem.bytes.slice(off, off + size);
  for (const path of kind.kernelSkips) {
    const m = locate(kind.struct, t.model, path);
    own.fill(0, m.offset, m.offset + m.size);
  }
  const value = decode(kind.struct, t.model, own) as FrameValue;
  const fpstate = fpstateOf(value);
  const notes: string[] = [];

  const fsaveSize = fsaveHeaderSize(kind.fsaveHeader, t.k);
  const bufFx = fpstate === 0n ? null : fpstate + BigInt(fsaveSize);
  const inside = (addr: bigint, len: number) =>
    addr >= mem.address && addr + BigInt(len) <= mem.address + BigInt(mem.bytes.length);
  const legacy = bufFx !== null && inside(bufFx, FXSAVE_SIZE) ? decodeLegacy(mem, bufFx) : null;
  if (req.amx === undefined && legacy) {
    t = frameTarget(
      req.kind,
      req.profile,
      req.kernel,
      req.config,
      inferAmx(t, req.kind, legacy.sw_reserved.xstate_size),
    );
  }
  const fsave =
    fsaveSize > 0 && fpstate !== 0n && inside(fpstate, fsaveSize)
      ? decode(fregs_state, dataModels.ilp32, mem.bytes, Number(fpstate - mem.address))
      : null;

  let xstateBv = 0n;
  const components: Record<string, unknown> = {};
  if (legacy && bufFx !== null && inside(bufFx + 512n, 64) && t.k.xsave) {
    xstateBv = decode(
      xstate_header,
      dataModels.lp64,
      mem.bytes,
      Number(bufFx + 512n - mem.address),
    ).xfeatures;
    const carried = xstateBv & t.k.xcr0 & legacy.sw_reserved.xfeatures;
    for (const nr of bitsOf(xstateBv & ~t.k.xcr0)) notes.push(`XSTATE_BV bit ${nr} is not in XCR0`);
    const layout = xsaveLayout(t.profile.xsave, carried, 'standard');
    for (const region of layout.regions) {
      if (typeof region.nr !== 'number' || region.nr < 2) continue;
      const spec = extendedComponents.find((x) => x.nr === region.nr);
      if (!spec) continue;
      const start = bufFx + BigInt(region.offset);
      if (!inside(start, region.size)) {
        notes.push(`${spec.name} at 0x${start.toString(16)} lies outside the input: not decoded`);
        continue;
      }
      components[spec.name] = decode(spec.registers, dataModels.lp64, mem.bytes, Number(start - mem.address));
    }
  } else if (fpstate !== 0n && !legacy) {
    notes.push(`the FP state at 0x${(bufFx ?? 0n).toString(16)} lies outside the input: not decoded`);
  }

  const verdict = sigreturnVerdict(mem, fpstate, t);
  const state: SignalState = {
    format: 'sigframe-state/1',
    kind: req.kind,
    profile: req.profileRef ?? req.profile.name,
    kernel: req.kernel.version ? req.kernel.version.join('.') : req.kernel.era.since,
    ...(req.config.bits === 32 ? { kernel_bits: '32' as const } : {}),
    ...(req.config.ia32Emulation === false ? { ia32_emulation: false } : {}),
    amx: t.amx,
    delivery: req.delivery ? { ...req.delivery, sp: deliveryOf(value, frame).sp } : deliveryOf(value, frame),
    frame: value,
    fpu: legacy ? { legacy, xstate_bv: xstateBv, components: components as ComponentValues } : undefined,
  };
  const written = bitsOf(xstateBv).map((nr) => xfeatureName(nr));
  return {
    state,
    frame,
    fpstate,
    buf_fx: bufFx,
    sw_reserved: legacy?.sw_reserved ?? null,
    fsave_header: fsave,
    written,
    registers: legacy
      ? assembleRegisters(legacy, components as ComponentValues, kind.abi === 'ia32' ? 8 : 16)
      : null,
    verdict,
    notes,
  };
}

/** The FXSAVE image, with its hardware-reserved bytes 416..463 (never written by XSAVE) as zero. */
function decodeLegacy(mem: Memory, bufFx: bigint): Infer<typeof fpstate_64> {
  const v = decode(fpstate_64, dataModels.lp64, mem.bytes, Number(bufFx - mem.address));
  return { ...v, reserved2: new Uint8Array(v.reserved2.length) };
}

/** Delivery as the frame itself records it: the interrupted sp and the alt stack in uc_stack. */
function deliveryOf(v: FrameValue, frame: bigint): SignalState['delivery'] {
  if ('sc' in v) return { sp: BigInt(v.sc.sp), onstack: false };
  const sp = BigInt(v.uc.uc_mcontext.sp);
  const s = v.uc.uc_stack;
  const ssSp = BigInt(s.ss_sp);
  const ssSize = BigInt(s.ss_size);
  const altstack = s.ss_flags & K.SS_DISABLE ? undefined : { sp: ssSp, size: ssSize, flags: s.ss_flags };
  const onstack = altstack !== undefined && frame > ssSp && frame - ssSp <= ssSize;
  return { sp, onstack, ...(altstack ? { altstack } : {}) };
}
