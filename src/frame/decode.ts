import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds, fregs_state } from '../../layouts/frames.js';
import type { fpstate_64 } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import type { KernelChoice } from '../kernel/eras.js';
import { type AmxState, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError } from '../schema/errors.js';
import { locate } from '../schema/layout.js';
import { lazyProperty } from '../schema/memo.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { valueAt } from '../schema/value.js';
import { bitsOf, FXSAVE_SIZE, has, xfeatureName } from '../xsave/catalog.js';
import { checkFrame, type Finding, type FrameLocation, type ImageExpectation, locateFrame } from './infer.js';
import { type FrameLayout, frameLayout, sigcontextOf } from './layout.js';
import { assembleRegisters, type Registers } from './registers.js';
import { type DecodedSiginfo, decodeSiginfo } from './siginfo.js';
import { type FpImage, type Memory, readFpImage, sigreturnVerdict, type Verdict } from './sigreturn.js';
import type { ComponentValues, FrameValue, SignalState } from './state.js';
import { type FrameTarget, frameTarget } from './target.js';

export type { Finding, FrameLocation } from './infer.js';

/** How the layout a frame is read with was chosen. */
export type LayoutSource = 'profile' | 'capture' | 'core' | 'host' | 'inferred';

/** A layout the frame also fits, read the same way (see inferFrameLayout()). */
export interface LayoutAlternative {
  readonly profile: string;
  readonly kind: FrameKindName;
  readonly amx: AmxState;
  readonly fit: 'exact' | 'family';
}

/**
 * The layout the frame was read with, and why: given (`--profile`, or a state's), named by the
 * capture, the host's, or inferred from the frame itself; with the other layouts it fits equally.
 */
export interface LayoutChoice {
  readonly source: LayoutSource;
  readonly profile: string;
  readonly kind: FrameKindName;
  readonly amx: AmxState;
  readonly why: string;
  readonly candidates: readonly LayoutAlternative[];
}

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
  /** How the layout was chosen, for the output (default: given by the caller). */
  readonly layout?: Pick<LayoutChoice, 'source' | 'why' | 'candidates'>;
  /** What sw_reserved must say, when not what the target's task writes (a layout-family fit). */
  readonly expect?: ImageExpectation;
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
  /** The siginfo decoded per signal and si_code (null for ia32 legacy frames, which carry none). */
  readonly siginfo: DecodedSiginfo | null;
  readonly verdict: Verdict;
  readonly notes: readonly string[];
  readonly layout: LayoutChoice;
  /** The checks the frame fails against its layout (frameChecks in src/frame/infer.ts); empty when it fits. */
  readonly findings: readonly Finding[];
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
    // Checked now, decoded on first read: a verdict-only decode never looks at the registers.
    lazyProperty(out, c.name, () => decode(c.registers, dataModels.lp64, mem.bytes, Number(off)));
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
  const frame = locateFrame(mem, req.locate, l0);
  const frameOffset = at(mem, frame, 'the frame');
  const value = frameStruct(mem, frameOffset, l0);
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
  else if (xsave?.legacy && !xsave.header)
    notes.push(
      `the XSAVE header at 0x${(img!.bufFx + BigInt(FXSAVE_SIZE)).toString(16)} is not in the input: XSTATE_BV and the extended components are unknown, not INIT`,
    );

  const verdict = sigreturnVerdict(mem, value, img, t);
  const findings = checkFrame(mem, frame, l, req.expect);
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
  const out = {
    state,
    frame,
    fpstate,
    buf_fx: img ? img.bufFx : null,
    sw_reserved: legacy?.sw_reserved ?? null,
    fsave_header: fsave,
    written: bitsOf(xstateBv).map((nr) => xfeatureName(nr)),
    registers: null as Registers | null,
    siginfo: l0.siginfo ? decodeSiginfo(mem.bytes, frameOffset + l0.siginfo.offset, kind.abi) : null,
    verdict,
    notes,
    layout: {
      source: req.layout?.source ?? 'profile',
      profile: state.profile,
      kind: req.kind,
      amx: t.amx,
      why: req.layout?.why ?? 'the profile was given',
      candidates: req.layout?.candidates ?? [],
    },
    findings,
  };
  // Registers are the one costly part (a BigInt per vector register, 2/3 of the decode of an
  // AVX-512 frame) and bulk readers often want only the verdict: made on first read, then kept.
  if (legacy)
    lazyProperty(out, 'registers', () =>
      assembleRegisters(legacy, values, kind.abi === 'ia32' ? 8 : 16, fsave?.st_space),
    );
  return out;
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
