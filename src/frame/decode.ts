import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds, fregs_state } from '../../layouts/frames.js';
import type { fpstate_64 } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import type { KernelChoice } from '../kernel/eras.js';
import { frameGeometry } from '../kernel/signal.js';
import { type AmxState, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError } from '../schema/errors.js';
import { locate } from '../schema/layout.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { valueAt } from '../schema/value.js';
import { bitsOf, has, xfeatureName } from '../xsave/catalog.js';
import { type FrameLayout, frameLayout, sigcontextOf } from './layout.js';
import { assembleRegisters, type Registers } from './registers.js';
import { type FpImage, type Memory, readFpImage, sigreturnVerdict, type Verdict } from './sigreturn.js';
import type { ComponentValues, FrameValue, SignalState } from './state.js';
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

/** The AMX state whose user_size matches the frame's xstate_size, else none. */
function inferAmx(t: FrameTarget, kind: FrameKindName, xstateSize: number | undefined): AmxState {
  const states = possibleAmxStates(t.k, t.kernel.era, t.config, frameKinds[kind].abi);
  return states.includes('used') && xstateSize === t.k.maxSize && t.k.maxSize !== t.k.defaultSize
    ? 'used'
    : 'none';
}

/** The frame struct's bytes as the kernel writes them: members it never writes read as zero, not stale stack. */
function frameStruct(mem: Memory, off: number, l: FrameLayout): FrameValue {
  const { struct } = l.kind;
  const model = l.target.model;
  // Too short: decode() names the member the input cuts off.
  if (mem.bytes.length - off < l.structSize) decode(struct, model, mem.bytes, off);
  const own = mem.bytes.slice(off, off + l.structSize);
  for (const path of l.kind.kernelSkips) {
    const m = locate(struct, model, path);
    own.fill(0, m.offset, m.offset + m.size);
  }
  return decode(struct, model, own) as FrameValue;
}

/** The extended components the frame carries (XSTATE_BV within XCR0 and sw_reserved.xfeatures), each read once. */
function components(img: FpImage, l: FrameLayout, notes: string[]): ComponentValues {
  const out: Record<string, unknown> = {};
  const { legacy, header } = img;
  if (!legacy || !header) return out as ComponentValues;
  const k = l.target.k;
  const carried = header.xfeatures & k.xcr0 & legacy.sw_reserved.xfeatures;
  for (const nr of bitsOf(header.xfeatures & ~k.xcr0)) notes.push(`XSTATE_BV bit ${nr} is not in XCR0`);
  const mem = img.memory;
  for (const c of l.image.components.values()) {
    if (!has(carried, c.nr)) continue;
    const start = img.bufFx + BigInt(c.offset);
    const off = start - mem.address;
    if (off < 0n || off + BigInt(c.size) > BigInt(mem.bytes.length)) {
      notes.push(`${c.name} at 0x${start.toString(16)} lies outside the input: not decoded`);
      continue;
    }
    out[c.name] = decode(c.registers, dataModels.lp64, mem.bytes, Number(off));
  }
  return out as ComponentValues;
}

/**
 * Reads a frame from captured bytes: the frame struct, the FP state it points to, the registers,
 * and the verdict rt_sigreturn would reach. Each part is read once, at the place the target's
 * layout gives; every offset is checked against the input first, and a frame that does not fit
 * is a DecodeError naming the member and byte offset.
 */
export function decodeFrame(req: DecodeRequest): DecodedFrame {
  const mem = req.memory;
  const kind = frameKinds[req.kind];
  // The struct and where the image starts do not depend on the task's AMX state; its size does.
  const first = frameTarget(req.kind, req.profile, req.kernel, req.config, req.amx ?? 'none');
  const l0 = frameLayout(first);
  const loc = req.locate;
  let frame = mem.address;
  if (loc && 'frame' in loc) frame = loc.frame;
  else if (loc && 'ucontext' in loc) {
    if (!l0.ucontext) {
      throw new DecodeError(`${req.kind} frames have no ucontext; locate them with --frame or --top`, {
        path: 'ucontext',
      });
    }
    frame = loc.ucontext - BigInt(l0.ucontext.offset);
  } else if (loc && 'top' in loc) {
    frame = frameGeometry(kind, loc.top, first.task, first.k, first.config).frame;
  }
  const value = frameStruct(mem, at(mem, frame, 'the frame'), l0);
  const fpstate = BigInt(sigcontextOf(value, req.kind).fpstate!);
  const notes: string[] = [];

  const img = fpstate === 0n ? undefined : readFpImage(mem, fpstate, l0);
  const t =
    req.amx === undefined && img?.legacy
      ? frameTarget(
          req.kind,
          req.profile,
          req.kernel,
          req.config,
          inferAmx(first, req.kind, img.legacy.sw_reserved.xstate_size),
        )
      : first;
  const l = frameLayout(t);
  const legacy = img?.legacy;
  const inside = (addr: bigint, len: number) =>
    addr >= mem.address && addr + BigInt(len) <= mem.address + BigInt(mem.bytes.length);
  const fsave =
    l.fsaveHeader > 0 && img && inside(fpstate, l.fsaveHeader)
      ? decode(fregs_state, dataModels.ilp32, mem.bytes, Number(fpstate - mem.address))
      : null;
  const xsave = img && t.k.xsave ? img : undefined;
  const xstateBv = xsave?.legacy && xsave.header ? xsave.header.xfeatures : 0n;
  const values = xsave ? components(xsave, l, notes) : ({} as ComponentValues);
  if (img && !legacy)
    notes.push(`the FP state at 0x${img.bufFx.toString(16)} lies outside the input: not decoded`);

  const verdict = sigreturnVerdict(mem, value, img, t);
  const state: SignalState = {
    format: 'sigframe-state/1',
    kind: req.kind,
    profile: req.profileRef ?? req.profile.name,
    kernel: req.kernel.version ? req.kernel.version.join('.') : req.kernel.era.since,
    ...(req.config.bits === 32 ? { kernel_bits: '32' as const } : {}),
    ...(req.config.ia32Emulation === false ? { ia32_emulation: false } : {}),
    amx: t.amx,
    delivery: req.delivery
      ? { ...req.delivery, sp: deliveryOf(value, req.kind, frame).sp }
      : deliveryOf(value, req.kind, frame),
    frame: value,
    fpu: legacy ? { legacy, xstate_bv: xstateBv, components: values } : undefined,
  };
  return {
    state,
    frame,
    fpstate,
    buf_fx: img ? img.bufFx : null,
    sw_reserved: legacy?.sw_reserved ?? null,
    fsave_header: fsave,
    written: bitsOf(xstateBv).map((nr) => xfeatureName(nr)),
    registers: legacy
      ? assembleRegisters(legacy, values, kind.abi === 'ia32' ? 8 : 16, fsave?.st_space)
      : null,
    verdict,
    notes,
  };
}

/** Delivery as the frame itself records it: the interrupted sp and the alt stack in uc_stack. */
function deliveryOf(v: FrameValue, kind: FrameKindName, frame: bigint): SignalState['delivery'] {
  const sp = BigInt(sigcontextOf(v, kind).sp!);
  const ucPath = frameKinds[kind].ucontext;
  if (ucPath === null) return { sp, onstack: false };
  const s = (
    valueAt(v, ucPath) as { uc_stack: { ss_sp: number | bigint; ss_flags: number; ss_size: number | bigint } }
  ).uc_stack;
  const ssSp = BigInt(s.ss_sp);
  const ssSize = BigInt(s.ss_size);
  // ss_flags is a C int, but a flag word: SS_AUTODISARM is its sign bit.
  const flags = s.ss_flags >>> 0;
  const altstack = flags & K.SS_DISABLE ? undefined : { sp: ssSp, size: ssSize, flags };
  const onstack = altstack !== undefined && frame > ssSp && frame - ssSp <= ssSize;
  return { sp, onstack, ...(altstack ? { altstack } : {}) };
}
