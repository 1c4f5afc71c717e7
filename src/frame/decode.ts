import { dataModels } from '../../layouts/abi.js';
import { type FrameKindName, frameKinds, fregs_state } from '../../layouts/frames.js';
import { type fpstate_64, fpx_sw_bytes } from '../../layouts/uapi.js';
import { K } from '../abi/constants.js';
import type { KernelChoice } from '../kernel/eras.js';
import { type AmxState, possibleAmxStates } from '../kernel/task.js';
import { userOffset } from '../kernel/uaccess.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError } from '../schema/errors.js';
import { locate } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import type { Infer } from '../schema/node.js';
import { decode } from '../schema/parse.js';
import { bitsOf, FXSAVE_SIZE, has, xfeatureName } from '../xsave/catalog.js';
import { checkFrame, type Finding, type FrameLocation, type ImageExpectation, locateFrame } from './infer.js';
import { type ComponentSlot, type FrameLayout, frameLayout } from './layout.js';
import { assembleRegisters, type Registers } from './registers.js';
import { type DecodedSiginfo, decodeSiginfo } from './siginfo.js';
import {
  type FpImage,
  type FrameWords,
  fxsaveOf,
  type Memory,
  readFpImage,
  readFrameWords,
  sigreturnVerdict,
  type Verdict,
} from './sigreturn.js';
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
  /**
   * XSTATE_BV as the XSAVE header has it (null without sw_reserved): state.fpu.xstate_bv without
   * making the state. Not in the JSON, whose state holds it.
   */
  readonly xstate_bv: bigint | null;
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

/** The AMX states a target's kernel and task allow, by target (decodeFrame() asks once per frame). */
const amxStatesOf = memo((t: FrameTarget, kind: FrameKindName) =>
  possibleAmxStates(t.k, t.kernel.era, t.config, frameKinds[kind].abi),
);

/** The AMX state whose user_size matches the frame's xstate_size, else none. */
function inferAmx(t: FrameTarget, kind: FrameKindName, xstateSize: number | undefined): AmxState {
  return amxStatesOf(t, kind).includes('used') &&
    xstateSize === t.k.maxSize &&
    t.k.maxSize !== t.k.defaultSize
    ? 'used'
    : 'none';
}

/** The frame struct's bytes as the kernel writes them: members it never writes read as zero, not stale stack. */
function frameStruct(bytes: Uint8Array, at: number, l: FrameLayout): FrameValue {
  const { struct } = l.kind;
  const own = bytes.slice(at, at + l.structSize);
  const model = l.target.model;
  for (const path of l.kind.kernelSkips) {
    const m = locate(struct, model, path);
    own.fill(0, m.offset, m.offset + m.size);
  }
  return decode(struct, model, own) as FrameValue;
}

/**
 * The extended components the frame carries (XSTATE_BV within XCR0 and sw_reserved.xfeatures):
 * each checked against the input now, decoded when the state is made — a verdict-only decode
 * never looks at the registers.
 */
function components(img: FpImage, l: FrameLayout, notes: string[]): () => ComponentValues {
  const { sw, xstateBv } = img;
  if (!sw || xstateBv === undefined) return () => ({}) as ComponentValues;
  const k = l.target.k;
  const carried = xstateBv & k.xcr0 & sw.xfeatures;
  for (const nr of bitsOf(xstateBv & ~k.xcr0)) notes.push(`XSTATE_BV bit ${nr} is not in XCR0`);
  const mem = img.memory;
  const inside: { c: ComponentSlot; off: number }[] = [];
  for (const c of l.image.components.values()) {
    if (!has(carried, c.nr)) continue;
    const start = img.bufFx + BigInt(c.offset);
    const off = userOffset(mem, start, c.size);
    if (off < 0) notes.push(`${c.name} at 0x${start.toString(16)} lies outside the input: not decoded`);
    else inside.push({ c, off });
  }
  return () => {
    const out: Record<string, unknown> = {};
    for (const { c, off } of inside) out[c.name] = decode(c.registers, dataModels.lp64, mem.bytes, off);
    return out as ComponentValues;
  };
}

/** How a state names its kernel: the version, or the era's first version. */
const kernelName = memo((k: KernelChoice) => (k.version ? k.version.join('.') : k.era.since));

/**
 * What a decode's first-read parts are made from, and each once made: shared by a decode and its
 * revisions (reviseDecoded()), so reading a part in one reads it for all.
 */
interface FirstRead {
  readonly state: () => SignalState;
  readonly swReserved: () => DecodedFrame['sw_reserved'];
  readonly fsaveHeader: () => DecodedFrame['fsave_header'];
  readonly registers: (s: SignalState, fsave: DecodedFrame['fsave_header']) => Registers | null;
  made: {
    state?: SignalState;
    sw_reserved?: DecodedFrame['sw_reserved'];
    fsave_header?: DecodedFrame['fsave_header'];
    registers?: Registers | null;
  };
}

/** The members of a DecodedFrame made at decode time, in the order its JSON has them. */
type DecodedNow = Omit<DecodedFrame, 'state' | 'sw_reserved' | 'fsave_header' | 'registers' | 'xstate_bv'>;

/**
 * A decoded frame: what decodeFrame() makes at once as own properties; the state, sw_reserved,
 * the FSAVE header and the registers as getters made on first read. V8 makes an object with own
 * accessors in 1–2 µs each (a literal's or defineProperty's), longer than the verdict; a class's
 * are its prototype's, made once. toJSON() holds every part, as JSON.stringify and toJson() print.
 */
class Decoded implements DecodedFrame {
  readonly frame: bigint;
  readonly fpstate: bigint;
  readonly buf_fx: bigint | null;
  readonly written: readonly string[];
  readonly siginfo: DecodedSiginfo | null;
  readonly verdict: Verdict;
  readonly notes: readonly string[];
  readonly layout: LayoutChoice;
  readonly findings: readonly Finding[];
  readonly #lazy: FirstRead;
  readonly #xstateBv: bigint | null;

  constructor(now: DecodedNow, xstateBv: bigint | null, lazy: FirstRead) {
    this.frame = now.frame;
    this.fpstate = now.fpstate;
    this.buf_fx = now.buf_fx;
    this.written = now.written;
    this.siginfo = now.siginfo;
    this.verdict = now.verdict;
    this.notes = now.notes;
    this.layout = now.layout;
    this.findings = now.findings;
    this.#xstateBv = xstateBv;
    this.#lazy = lazy;
  }

  get xstate_bv(): bigint | null {
    return this.#xstateBv;
  }
  get state(): SignalState {
    const m = this.#lazy.made;
    if (m.state === undefined) m.state = this.#lazy.state();
    return m.state;
  }
  get sw_reserved(): DecodedFrame['sw_reserved'] {
    const m = this.#lazy.made;
    if (m.sw_reserved === undefined) m.sw_reserved = this.#lazy.swReserved();
    return m.sw_reserved;
  }
  get fsave_header(): DecodedFrame['fsave_header'] {
    const m = this.#lazy.made;
    if (m.fsave_header === undefined) m.fsave_header = this.#lazy.fsaveHeader();
    return m.fsave_header;
  }
  get registers(): Registers | null {
    const m = this.#lazy.made;
    if (m.registers === undefined) m.registers = this.#lazy.registers(this.state, this.fsave_header);
    return m.registers;
  }

  /** This decode with other notes or layout, sharing its first-read parts. */
  revised(change: Partial<Pick<DecodedFrame, 'layout' | 'notes'>>): Decoded {
    // A spread of the instance copies its own members, those made at decode time.
    const now = { ...this, ...change } as unknown as DecodedNow;
    return new Decoded(now, this.#xstateBv, this.#lazy);
  }

  toJSON(): PlainDecodedFrame {
    return {
      state: this.state,
      frame: this.frame,
      fpstate: this.fpstate,
      buf_fx: this.buf_fx,
      sw_reserved: this.sw_reserved,
      fsave_header: this.fsave_header,
      written: this.written,
      registers: this.registers,
      siginfo: this.siginfo,
      verdict: this.verdict,
      notes: this.notes,
      layout: this.layout,
      findings: this.findings,
    };
  }
}

/** A decoded frame as a plain object, every part read: what its JSON holds. */
export type PlainDecodedFrame = Omit<DecodedFrame, 'xstate_bv'>;

/**
 * Every part of a decoded frame as own data properties, for a spread or structuredClone (which
 * see a DecodedFrame's own properties only, not its first-read parts).
 */
export function plainDecoded(d: DecodedFrame): PlainDecodedFrame {
  return d instanceof Decoded ? d.toJSON() : d;
}

/**
 * Reads a frame from captured bytes: the frame struct, the FP state it points to, the registers,
 * and the verdict rt_sigreturn would reach. Each part is read once, at the place the target's
 * layout gives; every offset is checked against the input first, and a frame that does not fit
 * is a DecodeError naming the member and byte offset. The verdict, the findings, siginfo and the
 * words they rest on are made at once; the state (its frame struct, FXSAVE image and components),
 * sw_reserved and the registers on first read, from the input: it must not change until then.
 */
export function decodeFrame(req: DecodeRequest): DecodedFrame {
  const mem = req.memory;
  const kind = frameKinds[req.kind];
  // The struct and where the image starts do not depend on the task's AMX state; its size does.
  const first = frameTarget(req.kind, req.profile, req.kernel, req.config, req.amx ?? 'none');
  const l0 = frameLayout(first);
  const frame = locateFrame(mem, req.locate, l0);
  const frameOffset = at(mem, frame, 'the frame');
  // Too short: decode() names the member the input cuts off.
  if (mem.bytes.length - frameOffset < l0.structSize)
    decode(l0.kind.struct, l0.target.model, mem.bytes, frameOffset);
  const words = readFrameWords(mem.bytes, frameOffset, l0);
  const fpstate = BigInt(words.sigcontext.fpstate!);
  const notes: string[] = [];

  const img = fpstate === 0n ? undefined : readFpImage(mem, fpstate, l0);
  const sw = img?.sw;
  const t =
    req.amx === undefined && sw
      ? frameTarget(req.kind, req.profile, req.kernel, req.config, inferAmx(first, req.kind, sw.xstate_size))
      : first;
  const l = frameLayout(t);
  const fsaveAt = l.fsaveHeader > 0 && img ? userOffset(mem, fpstate, l.fsaveHeader) : -1;
  const xsave = img && t.k.xsave ? img : undefined;
  const xstateBv = (sw && xsave?.xstateBv) ?? 0n;
  const values = xsave ? components(xsave, l, notes) : () => ({}) as ComponentValues;
  if (img && !sw)
    notes.push(`the FP state at 0x${img.bufFx.toString(16)} lies outside the input: not decoded`);
  else if (xsave?.sw && xsave.xstateBv === undefined)
    notes.push(
      `the XSAVE header at 0x${(img!.bufFx + BigInt(FXSAVE_SIZE)).toString(16)} is not in the input: XSTATE_BV and the extended components are unknown, not INIT`,
    );

  const verdict = sigreturnVerdict(mem, words, img, t);
  const findings = checkFrame(mem, frame, l, req.expect);
  const fromFrame = deliveryOf(words, frame);
  const profile = req.profileRef ?? req.profile.name;
  const delivery = req.delivery ? withSp(req.delivery, fromFrame.sp) : fromFrame;
  const lazy: FirstRead = {
    state: (): SignalState => ({
      format: 'sigframe-state/1',
      kind: req.kind,
      profile,
      kernel: kernelName(req.kernel),
      ...(req.config.bits === 32 ? { kernel_bits: '32' as const } : {}),
      ...(req.config.ia32Emulation === false ? { ia32_emulation: false } : {}),
      amx: t.amx,
      delivery,
      frame: frameStruct(mem.bytes, frameOffset, l0),
      fpu: sw ? { legacy: fxsaveOf(img!)!, xstate_bv: xstateBv, components: values() } : undefined,
    }),
    swReserved: () => {
      const at = sw
        ? userOffset(mem, img!.bufFx + BigInt(l.image.swReserved.offset), l.image.swReserved.size)
        : -1;
      return at < 0 ? null : decode(fpx_sw_bytes, dataModels.lp64, mem.bytes, at);
    },
    fsaveHeader: () => (fsaveAt < 0 ? null : decode(fregs_state, dataModels.ilp32, mem.bytes, fsaveAt)),
    // Registers are the one costly part (a BigInt per vector register, 2/3 of the decode of an
    // AVX-512 frame) and bulk readers often want only the verdict.
    registers: (s, fsave) =>
      s.fpu
        ? assembleRegisters(s.fpu.legacy, s.fpu.components, kind.abi === 'ia32' ? 8 : 16, fsave?.st_space)
        : null,
    made: {},
  };
  const now: DecodedNow = {
    frame,
    fpstate,
    buf_fx: img ? img.bufFx : null,
    written: bitsOf(xstateBv).map((nr) => xfeatureName(nr)),
    siginfo: l0.siginfo ? decodeSiginfo(mem.bytes, frameOffset + l0.siginfo.offset, kind.abi) : null,
    verdict,
    notes,
    layout: {
      source: req.layout?.source ?? 'profile',
      profile,
      kind: req.kind,
      amx: t.amx,
      why: req.layout?.why ?? 'the profile was given',
      candidates: req.layout?.candidates ?? [],
    },
    findings,
  };
  return new Decoded(now, sw ? xstateBv : null, lazy);
}

/** A decoded frame with other notes or layout, its first-read parts shared, still unread. */
export function reviseDecoded(
  d: DecodedFrame,
  change: Partial<Pick<DecodedFrame, 'layout' | 'notes'>>,
): DecodedFrame {
  if (d instanceof Decoded) return d.revised(change);
  const out: PlainDecodedFrame = { ...d };
  return Object.assign(out, change) as DecodedFrame;
}

/** A delivery as given, with the interrupted sp the frame records. */
function withSp(d: SignalState['delivery'], sp: bigint): SignalState['delivery'] {
  // A lone spread, then the assignment: `{ ...d, sp }` takes V8's slow path (see sigreturnVerdict).
  const out: { -readonly [K in keyof typeof d]: (typeof d)[K] } = { ...d };
  out.sp = sp;
  return out;
}

/** Delivery as the frame itself records it: the interrupted sp and the alt stack in uc_stack. */
function deliveryOf(w: FrameWords, frame: bigint): SignalState['delivery'] {
  const sp = BigInt(w.sigcontext.sp!);
  if (w.uc === null) return { sp, onstack: false };
  const { ss_sp: ssSp, ss_size: ssSize } = w.uc;
  // ss_flags is a C int, but a flag word: SS_AUTODISARM is its sign bit.
  const flags = w.uc.ss_flags >>> 0;
  if (flags & K.SS_DISABLE) return { sp, onstack: false };
  const onstack = frame > ssSp && frame - ssSp <= ssSize;
  return { sp, onstack, altstack: { sp: ssSp, size: ssSize, flags } };
}
