import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { chooseKernel, type KernelChoice } from '../kernel/eras.js';
import { mathFrameSize, XSAVE_ALIGNMENT } from '../kernel/fpu_signal.js';
import { frameGeometry } from '../kernel/signal.js';
import { systemTarget } from '../kernel/system.js';
import { type AmxState, dynamicXfeatures, possibleAmxStates } from '../kernel/task.js';
import { userEnd, viewOf } from '../kernel/uaccess.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError, SigframeError } from '../schema/errors.js';
import { type FlatField, flatByPath } from '../schema/flat.js';
import { locate } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import {
  bitsOf,
  FXSAVE_SIZE,
  has,
  SW_RESERVED,
  XSAVE_EXTENDED_START,
  xfeatureName,
} from '../xsave/catalog.js';
import { type XsaveFormat, xsaveLayout } from '../xsave/layout.js';
import { type Field, type FrameLayout, frameLayout, imageOffset } from './layout.js';
import type { Memory } from './sigreturn.js';
import { type FrameTarget, frameTarget } from './target.js';

/**
 * Does a frame fit the layout it is read with? Every member the kernel computes rather than
 * copies (the FP state's place and its sw_reserved words, MAGIC2, the frame's own pointers, the
 * flags it sets) is checked against what the target's layout says the kernel wrote; each check
 * that fails is a Finding with the member, its byte offset in the input and both values. When no
 * profile is given, inferFrameLayout() tries every candidate (profile × frame kind × AMX state)
 * and keeps those the frame fits; inferXsaveLayout() does the same for a bare XSAVE image (a core
 * file's NT_X86_XSTATE). The checks read raw bytes at offsets resolved once per layout, so
 * decodeFrame() runs them on every frame at little cost.
 */

/** Where the frame is: given directly, through its ucontext, or below an alt stack top. */
export type FrameLocation = { frame: bigint } | { ucontext: bigint } | { top: bigint } | undefined;

/** One check the frame fails: the member, its byte offset in the input, what the layout expects. */
export interface Finding {
  readonly field: string;
  readonly offset: number;
  readonly expected: string;
  readonly actual: string;
  /** The kernel rule the expected value comes from. */
  readonly rule: string;
}

/** What the kernel writes into sw_reserved (save_sw_bytes(), arch/x86/kernel/fpu/signal.c) and behind the image. */
export interface ImageExpectation {
  readonly magic1: number;
  readonly xfeatures: bigint;
  readonly xstateSize: number;
  readonly extendedSize: number;
  /** The image is XSAVE's: there is a header with XSTATE_BV, and MAGIC2 follows. */
  readonly xsave: boolean;
}

/** sw_reserved as the kernel fills it for the target's task (the builder writes the same). */
export const expectationOf = memo(
  (t: FrameTarget): ImageExpectation => imageExpectation(t, t.task.userXfeatures, t.task.userSize),
);

function imageExpectation(t: FrameTarget, xfeatures: bigint, xstateSize: number): ImageExpectation {
  return {
    magic1: t.k.xsave || t.k.fxsr ? K.FP_XSTATE_MAGIC1 : 0,
    xfeatures,
    xstateSize,
    extendedSize: mathFrameSize(xstateSize, frameKinds[t.kind].fsaveHeader, t.k),
    xsave: t.k.xsave,
  };
}

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** The offsets one layout's checks read, resolved once. */
interface CheckPlan {
  readonly kind: FrameKindName;
  readonly structSize: number;
  readonly fpstatePath: string;
  readonly fpstate: Field;
  /** sigcontext.fpstate − the frame start, as get_sigframe() places them (buf_fx 64-aligned). */
  readonly fpDelta: bigint;
  readonly fsaveHeader: number;
  /** The end of the task's user space: pointers and the alt stack lie below it. */
  readonly userEnd: bigint;
  readonly members: ReadonlyMap<string, FlatField>;
  /** Offsets in the frame of its siginfo and ucontext (what pinfo and puc point to). */
  readonly infoAt: number | undefined;
  readonly ucAt: number | undefined;
  readonly retcode: readonly number[] | null;
  readonly retcodeAt: number | undefined;
  readonly sw: ReadonlyMap<string, Field>;
  readonly xstateBv: number;
  readonly xcompBv: number;
}

const plan = memo((l: FrameLayout): CheckPlan => {
  const t = l.target;
  const kind = frameKinds[t.kind];
  const g = frameGeometry(kind, 1n << 32n, t.task, t.k, t.config);
  const has = (path: string) => {
    try {
      return locate(kind.struct, t.model, path).offset;
    } catch {
      return undefined;
    }
  };
  return {
    kind: t.kind,
    structSize: l.structSize,
    fpstatePath: `${kind.sigcontext}.fpstate`,
    fpstate: l.fpstatePointer,
    fpDelta: g.fpstate - g.frame,
    fsaveHeader: l.fsaveHeader,
    userEnd: userEnd(kind.abi === 'x86_64' ? 64 : 32, t.config.bits),
    members: flatByPath(kind.struct, t.model),
    infoAt: has('info'),
    ucAt: kind.ucontext === null ? undefined : has(kind.ucontext),
    retcode: kind.retcode,
    retcodeAt: kind.retcode ? has('retcode') : undefined,
    sw: new Map(l.image.swReserved.fields),
    xstateBv: imageOffset('header.xfeatures'),
    xcompBv: imageOffset('header.reserved1[0]'),
  };
});

/** What one check sees: the input, the frame in it, the layout's offsets and the expected sw_reserved. */
interface CheckContext {
  readonly mem: Memory;
  readonly dv: DataView;
  /** The frame's offset in the input; the frame struct lies wholly inside it. */
  readonly at: number;
  readonly frame: bigint;
  readonly plan: CheckPlan;
  readonly expect: ImageExpectation;
  readonly fpstate: bigint;
  /** The image's (buf_fx's) offset in the input, when its FXSAVE part lies inside; else undefined. */
  readonly buf: number | undefined;
}

function read(dv: DataView, off: number, size: number): bigint {
  switch (size) {
    case 1:
      return BigInt(dv.getUint8(off));
    case 2:
      return BigInt(dv.getUint16(off, true));
    case 4:
      return BigInt(dv.getUint32(off, true));
    default:
      return dv.getBigUint64(off, true);
  }
}

/** A frame member's raw (unsigned) value and offset in the input, or undefined when the kind has none. */
function member(c: CheckContext, path: string): { value: bigint; offset: number } | undefined {
  const f = c.plan.members.get(path);
  if (!f) return undefined;
  return { value: read(c.dv, c.at + f.offset, f.size), offset: c.at + f.offset };
}

function imageField(c: CheckContext, offset: number, size: number): bigint | undefined {
  if (c.buf === undefined) return undefined;
  const o = c.buf + offset;
  return o >= 0 && o + size <= c.mem.bytes.length ? read(c.dv, o, size) : undefined;
}

type Check = (c: CheckContext) => Finding | undefined;

const finding = (field: string, offset: number, expected: string, actual: string, rule: string): Finding => ({
  field,
  offset,
  expected,
  actual,
  rule,
});

const GET_SIGFRAME = 'get_sigframe(), arch/x86/kernel/signal.c';
const SW_BYTES = 'save_sw_bytes(), arch/x86/kernel/fpu/signal.c';

/** sigcontext.fpstate: the math frame sits right above the frame struct, and buf_fx is 64-aligned. */
const fpstatePointer: Check = (c) => {
  const want = c.frame + c.plan.fpDelta;
  if (c.fpstate === want && (want + BigInt(c.plan.fsaveHeader)) % BigInt(XSAVE_ALIGNMENT) === 0n)
    return undefined;
  return finding(
    c.plan.fpstatePath,
    c.at + c.plan.fpstate.offset,
    `${hex(want)} (the frame + ${c.plan.fpDelta}, where the kernel places the FP state)`,
    c.fpstate === 0n ? '0x0 (NULL)' : hex(c.fpstate),
    GET_SIGFRAME,
  );
};

/**
 * The input holds the whole frame: through the math frame the kernel wrote (fpstate +
 * extended_size, the image and MAGIC2), so nothing a decode reports is a byte it did not see.
 */
const extent: Check = (c) => {
  if (c.fpstate !== c.frame + c.plan.fpDelta) return undefined;
  const end = c.fpstate + BigInt(c.expect.extendedSize);
  const inputEnd = c.mem.address + BigInt(c.mem.bytes.length);
  if (end <= inputEnd) return undefined;
  return finding(
    'input',
    c.mem.bytes.length,
    `the frame through ${hex(end)} (fpstate + ${c.expect.extendedSize}: the FP state and MAGIC2), ${Number(end - c.mem.address)} bytes`,
    `the input ends at ${hex(inputEnd)}, ${c.mem.bytes.length} bytes`,
    'copy_fpstate_to_sigframe(), arch/x86/kernel/fpu/signal.c',
  );
};

/** The sw_reserved words save_sw_bytes() writes, as data: member, expected value, why. */
const SW_WORDS: readonly (readonly [
  string,
  (e: ImageExpectation) => bigint | number,
  (v: bigint) => string,
  string,
])[] = [
  ['magic1', (e) => e.magic1, hex, `FP_XSTATE_MAGIC1 (${SW_BYTES})`],
  ['xfeatures', (e) => e.xfeatures, hex, "the task's user_xfeatures: the XCR0 bits its frames carry"],
  ['xstate_size', (e) => e.xstateSize, String, "the task's user_size: the XSAVE image's size"],
  ['extended_size', (e) => e.extendedSize, String, 'the math frame: the image, MAGIC2 and any FSAVE header'],
];

const swChecks: Check[] = SW_WORDS.map(([name, want, show, rule]) => (c) => {
  const f = c.plan.sw.get(name)!;
  const v = imageField(c, f.offset, f.size);
  const w = BigInt(want(c.expect));
  if (v === undefined || v === w) return undefined;
  return finding(`sw_reserved.${name}`, c.buf! + f.offset, show(w), show(v), rule);
});

/** XSTATE_BV: FP and SSE always set (save_xstate_epilog()), nothing outside sw_reserved.xfeatures. */
const xstateBv: Check = (c) => {
  if (!c.expect.xsave) return undefined;
  const bv = imageField(c, c.plan.xstateBv, 8);
  if (bv === undefined) return undefined;
  const allowed = c.expect.xfeatures;
  if ((bv & ~allowed) === 0n && (bv & XFEATURE_MASK.FPSSE) === XFEATURE_MASK.FPSSE) return undefined;
  return finding(
    'XSTATE_BV',
    c.buf! + c.plan.xstateBv,
    `FP and SSE set, nothing outside ${hex(allowed)}`,
    hex(bv),
    'XSAVE writes XSTATE_BV within RFBM = user_xfeatures; save_xstate_epilog() sets FP|SSE',
  );
};

/** XCOMP_BV: the kernel zeroes the header and XSAVE's standard form leaves XCOMP_BV 0. */
const xcompBv: Check = (c) => {
  if (!c.expect.xsave) return undefined;
  const v = imageField(c, c.plan.xcompBv, 8);
  if (v === undefined || v === 0n) return undefined;
  return finding(
    'XCOMP_BV',
    c.buf! + c.plan.xcompBv,
    '0x0',
    hex(v),
    'signal frames hold the standard format',
  );
};

/** FP_XSTATE_MAGIC2 right behind the image (xstate_size bytes from buf_fx); unchecked beyond the input. */
const magic2: Check = (c) => {
  if (!c.expect.xsave) return undefined;
  const v = imageField(c, c.expect.xstateSize, K.FP_XSTATE_MAGIC2_SIZE);
  if (v === undefined || v === BigInt(K.FP_XSTATE_MAGIC2)) return undefined;
  return finding(
    'MAGIC2',
    c.buf! + c.expect.xstateSize,
    `${hex(K.FP_XSTATE_MAGIC2)} at buf_fx + ${c.expect.xstateSize}`,
    hex(v),
    SW_BYTES,
  );
};

/** The restorer the handler returns through: a user address, never NULL (the kernel refuses to deliver without one). */
const pretcode: Check = (c) => {
  const m = member(c, 'pretcode');
  if (!m || (m.value !== 0n && m.value < c.plan.userEnd)) return undefined;
  return finding(
    'pretcode',
    m.offset,
    `a user address in (0, ${hex(c.plan.userEnd)})`,
    hex(m.value),
    GET_SIGFRAME,
  );
};

const signoOk = (v: bigint) => v >= 1n && v <= 64n;

/** ia32 frames' `sig`: a signal number, and the siginfo's in rt frames. */
const sig: Check = (c) => {
  const m = member(c, 'sig');
  if (!m) return undefined;
  const info = member(c, 'info.si_signo');
  if (signoOk(m.value) && (!info || info.value === m.value)) return undefined;
  return finding(
    'sig',
    m.offset,
    info ? `info.si_signo (${info.value}), 1..64` : 'a signal number, 1..64',
    String(m.value),
    'ia32_setup_frame(), ia32_setup_rt_frame(): arch/x86/kernel/signal_32.c',
  );
};

/** ia32 rt frames point at their own siginfo and ucontext. */
const selfPointer =
  (name: 'pinfo' | 'puc', at: (p: CheckPlan) => number | undefined): Check =>
  (c) => {
    const m = member(c, name);
    const off = at(c.plan);
    if (!m || off === undefined) return undefined;
    const want = c.frame + BigInt(off);
    if (m.value === want) return undefined;
    return finding(
      name,
      m.offset,
      `${hex(want)} (the frame + ${off})`,
      hex(m.value),
      'ia32_setup_rt_frame(), arch/x86/kernel/signal_32.c',
    );
  };

/** The gdb marker 32-bit frames carry (popl/movl/int $0x80): the kernel always writes it. */
const retcode: Check = (c) => {
  const code = c.plan.retcode;
  const at = c.plan.retcodeAt;
  if (!code || at === undefined) return undefined;
  const o = c.at + at;
  if (code.every((b, i) => c.mem.bytes[o + i] === b)) return undefined;
  const show = (bs: ArrayLike<number>) => Array.from(bs, (b) => b.toString(16).padStart(2, '0')).join(' ');
  return finding(
    'retcode',
    o,
    show(code),
    show(c.mem.bytes.subarray(o, o + code.length)),
    'arch/x86/kernel/signal_32.c',
  );
};

const UC_KNOWN = BigInt(K.UC_FP_XSTATE | K.UC_SIGCONTEXT_SS | K.UC_STRICT_RESTORE_SS);

const ucFlags: Check = (c) => {
  const m = member(c, 'uc.uc_flags');
  if (!m || (m.value & ~UC_KNOWN) === 0n) return undefined;
  return finding(
    'uc.uc_flags',
    m.offset,
    `only UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS (${hex(UC_KNOWN)})`,
    hex(m.value),
    'frame_uc_flags(), arch/x86/kernel/signal_64.c',
  );
};

const ucLink: Check = (c) => {
  const m = member(c, 'uc.uc_link');
  if (!m || m.value === 0n) return undefined;
  return finding('uc.uc_link', m.offset, '0x0', hex(m.value), 'the kernel writes a NULL uc_link');
};

const SS_KNOWN = BigInt(K.SS_ONSTACK | K.SS_DISABLE | K.SS_AUTODISARM);

const ssFlags: Check = (c) => {
  const m = member(c, 'uc.uc_stack.ss_flags');
  if (!m) return undefined;
  const both = BigInt(K.SS_ONSTACK | K.SS_DISABLE);
  if ((m.value & ~SS_KNOWN) === 0n && (m.value & both) !== both) return undefined;
  return finding(
    'uc.uc_stack.ss_flags',
    m.offset,
    `SS_ONSTACK or SS_DISABLE, and SS_AUTODISARM (within ${hex(SS_KNOWN)})`,
    hex(m.value),
    '__save_altstack(), kernel/signal.c',
  );
};

const ssSize: Check = (c) => {
  const size = member(c, 'uc.uc_stack.ss_size');
  const sp = member(c, 'uc.uc_stack.ss_sp');
  if (!size || !sp) return undefined;
  if (size.value <= c.plan.userEnd && sp.value + size.value <= c.plan.userEnd) return undefined;
  return finding(
    'uc.uc_stack.ss_size',
    size.offset,
    `an alt stack inside user space (ss_sp + ss_size ≤ ${hex(c.plan.userEnd)})`,
    `ss_sp ${hex(sp.value)} ss_size ${size.value}`,
    'do_sigaltstack(), kernel/signal.c',
  );
};

const siSigno: Check = (c) => {
  const m = member(c, 'info.si_signo');
  if (!m || signoOk(m.value)) return undefined;
  return finding(
    'info.si_signo',
    m.offset,
    'a signal number, 1..64',
    String(BigInt.asIntN(32, m.value)),
    'copy_siginfo_to_user()',
  );
};

/**
 * Every check, in the order findings are reported: the FP state's place first (a wrong --address
 * or frame size shows there), then what sw_reserved and the XSAVE header say about the layout,
 * then the frame's own members.
 */
export const frameChecks: readonly { readonly name: string; readonly check: Check }[] = [
  { name: 'fpstate', check: fpstatePointer },
  { name: 'input', check: extent },
  ...SW_WORDS.map(([name], i) => ({ name: `sw_reserved.${name}`, check: swChecks[i]! })),
  { name: 'XSTATE_BV', check: xstateBv },
  { name: 'XCOMP_BV', check: xcompBv },
  { name: 'MAGIC2', check: magic2 },
  { name: 'pretcode', check: pretcode },
  { name: 'sig', check: sig },
  { name: 'pinfo', check: selfPointer('pinfo', (p) => p.infoAt) },
  { name: 'puc', check: selfPointer('puc', (p) => p.ucAt) },
  { name: 'retcode', check: retcode },
  { name: 'uc.uc_flags', check: ucFlags },
  { name: 'uc.uc_link', check: ucLink },
  { name: 'uc.uc_stack.ss_flags', check: ssFlags },
  { name: 'uc.uc_stack.ss_size', check: ssSize },
  { name: 'info.si_signo', check: siSigno },
];

/**
 * Runs every check on the frame at `frame` (its struct must lie in the input; decodeFrame() has
 * checked) against `l` and, by default, the sw_reserved words of l's task.
 */
export function checkFrame(
  mem: Memory,
  frame: bigint,
  l: FrameLayout,
  expect: ImageExpectation = expectationOf(l.target),
): Finding[] {
  const p = plan(l);
  const at = Number(frame - mem.address);
  const dv = viewOf(mem.bytes);
  const fpstate = read(dv, at + p.fpstate.offset, p.fpstate.size);
  // A Number is exact wherever the image can lie in the input (offsets below 2^53).
  const bufAt = Number(fpstate - mem.address) + p.fsaveHeader;
  const buf = fpstate !== 0n && bufAt >= 0 && bufAt + FXSAVE_SIZE <= mem.bytes.length ? bufAt : undefined;
  const c: CheckContext = { mem, dv, at, frame, plan: p, expect, fpstate, buf };
  const out: Finding[] = [];
  runChecks(c, out);
  return out;
}

/**
 * frameChecks in order, each called where its own call site can inline it: one loop calling all
 * seventeen through one site made V8 call each without inlining, a third of checkFrame's time.
 */
const runChecks = new Function(
  ...frameChecks.map((_, i) => `C${i}`),
  `return (c, out) => {
    let f;
    ${frameChecks.map((_, i) => `f = C${i}(c); if (f) out.push(f);`).join('\n    ')}
  };`,
)(...frameChecks.map((x) => x.check)) as (c: CheckContext, out: Finding[]) => void;

/** A finding as one line: `sw_reserved.xfeatures at byte 1000: 0xe7, expected 0x7`. */
export function formatFinding(f: Finding): string {
  return `${f.field} at byte ${f.offset}: ${f.actual}, expected ${f.expected}`;
}

/**
 * Where the frame starts for a target: at the first byte, at --frame, from its ucontext, or below
 * an alt stack top by get_sigframe()'s rules for a task whose image is `userSize` bytes.
 */
export function locateFrame(
  mem: Memory,
  loc: FrameLocation,
  l: FrameLayout,
  userSize: number = l.target.task.userSize,
): bigint {
  const t = l.target;
  if (loc && 'frame' in loc) return loc.frame;
  if (loc && 'ucontext' in loc) {
    if (!l.ucontext) {
      throw new DecodeError(`${t.kind} frames have no ucontext; locate them with --frame or --top`, {
        path: 'ucontext',
      });
    }
    return loc.ucontext - BigInt(l.ucontext.offset);
  }
  if (loc && 'top' in loc)
    return frameGeometry(frameKinds[t.kind], loc.top, { userSize }, t.k, t.config).frame;
  return mem.address;
}

/* ---- inference: which layout does the frame fit? ------------------------------------------ */

/** A profile to try, with the name the decoded state gives it (a shipped name, 'host', a file). */
export interface ProfileChoice {
  readonly ref: string;
  readonly profile: Profile;
}

export interface LayoutCandidate {
  readonly ref: string;
  readonly target: FrameTarget;
  /** Where this candidate places the frame. */
  readonly frame: bigint;
  /**
   * exact: the frame is what the kernel writes for this profile's task; family: the profile's CPU
   * lays out the frame's own xfeatures at the same offsets and size, but its XCR0 differs.
   */
  readonly fit: 'exact' | 'family';
  readonly expect: ImageExpectation;
  readonly findings: readonly Finding[];
}

export interface InferOptions {
  /** In order of preference: the first is the host or the profile the input names. */
  readonly profiles: readonly ProfileChoice[];
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  readonly locate?: FrameLocation;
  /** Frame kinds to try (default: every kind the configuration delivers, x86_64 first). */
  readonly kinds?: readonly FrameKindName[];
  /** The task's AMX state, when known; else every state the target allows. */
  readonly amx?: AmxState;
}

export interface LayoutConflict {
  readonly a: LayoutCandidate;
  readonly b: LayoutCandidate;
  readonly field: string;
  /** Byte offset in the input where the two layouts disagree (the frame, or the component). */
  readonly offset: number;
  readonly values: readonly [string, string];
}

export interface InferredLayout {
  /** The layout to decode with: undefined when nothing fits, or when fits contradict. */
  readonly chosen: LayoutCandidate | undefined;
  /** Every fit of the tier chosen from (exact, else family), the chosen one first. */
  readonly fits: readonly LayoutCandidate[];
  /** Fits equivalent to the chosen one (same kind, frame size and offsets of the components present). */
  readonly equivalent: readonly LayoutCandidate[];
  readonly conflict: LayoutConflict | undefined;
  /** When nothing fits: the closest candidate of the preferred profile, with its findings. */
  readonly best: LayoutCandidate | undefined;
  readonly tried: number;
}

const ALL_KINDS: readonly FrameKindName[] = ['x86_64', 'ia32-rt', 'ia32', 'x32'];

/** The frame kinds a kernel configuration can deliver. */
export function deliverableKinds(config: KernelConfig): FrameKindName[] {
  return ALL_KINDS.filter((k) => {
    const abi = frameKinds[k].abi;
    if (config.bits === 32) return abi === 'ia32';
    return abi !== 'ia32' || config.ia32Emulation !== false;
  });
}

function targetOrUndefined(
  kind: FrameKindName,
  p: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): FrameTarget | undefined {
  try {
    return frameTarget(kind, p, kernel, config, amx);
  } catch (e) {
    if (e instanceof SigframeError) return undefined;
    throw e;
  }
}

/** A candidate's findings; a frame struct outside the input is one finding too. */
function evaluate(
  mem: Memory,
  ref: string,
  t: FrameTarget,
  loc: FrameLocation,
  fit: 'exact' | 'family',
  expect: ImageExpectation,
): LayoutCandidate | undefined {
  const l = frameLayout(t);
  let frame: bigint;
  try {
    frame = locateFrame(mem, loc, l, expect.xstateSize);
  } catch (e) {
    if (e instanceof SigframeError) return undefined;
    throw e;
  }
  const off = frame - mem.address;
  const findings =
    off < 0n || off + BigInt(l.structSize) > BigInt(mem.bytes.length)
      ? [
          finding(
            'frame',
            Number(off < 0n ? 0n : off > BigInt(mem.bytes.length) ? BigInt(mem.bytes.length) : off),
            `the ${l.structSize}-byte ${t.kind} frame struct inside the input (${mem.bytes.length} bytes from ${hex(mem.address)})`,
            `a frame at ${hex(frame)}`,
            GET_SIGFRAME,
          ),
        ]
      : checkFrame(mem, frame, l, expect);
  return { ref, target: t, frame, fit, expect, findings };
}

/** The frame's own claims: sw_reserved.xfeatures and xstate_size at the image its fpstate points to. */
function ownClaims(
  mem: Memory,
  frame: bigint,
  l: FrameLayout,
): { xfeatures: bigint; xstateSize: number } | undefined {
  const p = plan(l);
  const at = frame - mem.address;
  if (at < 0n || at + BigInt(l.structSize) > BigInt(mem.bytes.length)) return undefined;
  const dv = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  const fpstate = read(dv, Number(at) + p.fpstate.offset, p.fpstate.size);
  return swClaims(mem, dv, fpstate + BigInt(p.fsaveHeader), p);
}

function swClaims(
  mem: Memory,
  dv: DataView,
  bufFx: bigint,
  p: CheckPlan,
): { xfeatures: bigint; xstateSize: number } | undefined {
  const b = bufFx - mem.address;
  if (b < 0n || b + BigInt(FXSAVE_SIZE) > BigInt(mem.bytes.length)) return undefined;
  const f = (name: string) => {
    const x = p.sw.get(name)!;
    return read(dv, Number(b) + x.offset, x.size);
  };
  if (f('magic1') !== BigInt(K.FP_XSTATE_MAGIC1)) return undefined;
  return { xfeatures: f('xfeatures'), xstateSize: Number(f('xstate_size')) };
}

/**
 * Below an alt stack top, the image sizes whose placement finds an image that says it has that
 * size: for each 64-aligned buf_fx in reach, sw_reserved's xstate_size must put it there.
 */
function sizesBelowTop(mem: Memory, top: bigint, l: FrameLayout): number[] {
  const p = plan(l);
  const dv = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  const out = new Set<number>();
  const align = BigInt(XSAVE_ALIGNMENT);
  const highest = top - BigInt(XSAVE_EXTENDED_START + K.FP_XSTATE_MAGIC2_SIZE);
  for (let buf = highest - (((highest % align) + align) % align); buf >= mem.address; buf -= align) {
    if (top - buf > BigInt(1 << 16)) break;
    const c = swClaims(mem, dv, buf, p);
    if (!c) continue;
    const size = c.xstateSize;
    const g = frameGeometry(frameKinds[l.target.kind], top, { userSize: size }, l.target.k, l.target.config);
    if (g.bufFx === buf) out.add(size);
  }
  return [...out];
}

/**
 * Below an alt stack top, the FP states that describe themselves consistently: sw_reserved's
 * xstate_size places the image exactly where it is (get_sigframe() for that size). Nearest the
 * top first; `offset` is the image's byte offset in the input.
 */
export function imagesBelowTop(
  mem: Memory,
  top: bigint,
  l: FrameLayout,
): { xfeatures: bigint; xstateSize: number; offset: number }[] {
  const p = plan(l);
  const dv = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  return sizesBelowTop(mem, top, l).flatMap((size) => {
    const g = frameGeometry(frameKinds[l.target.kind], top, { userSize: size }, l.target.k, l.target.config);
    const c = swClaims(mem, dv, g.bufFx, p);
    return c ? [{ ...c, offset: Number(g.bufFx - mem.address) }] : [];
  });
}

/** Offsets (in the image) of the extended components `mask` holds on a target's CPU, or undefined if it lacks one. */
function componentOffsets(t: FrameTarget, mask: bigint): Map<number, number> | undefined {
  try {
    const regions = xsaveLayout(t.profile.xsave, mask, 'standard').regions;
    return new Map(regions.flatMap((r) => (typeof r.nr === 'number' ? [[r.nr, r.offset] as const] : [])));
  } catch (e) {
    if (e instanceof SigframeError) return undefined;
    throw e;
  }
}

/** XSTATE_BV of a candidate's image (within its sw_reserved.xfeatures), 0 when unreadable. */
function presentOf(mem: Memory, c: LayoutCandidate): bigint {
  const l = frameLayout(c.target);
  const p = plan(l);
  const dv = new DataView(mem.bytes.buffer, mem.bytes.byteOffset, mem.bytes.byteLength);
  const at = Number(c.frame - mem.address);
  const fpstate = read(dv, at + p.fpstate.offset, p.fpstate.size);
  const b = fpstate + BigInt(p.fsaveHeader) - mem.address;
  if (fpstate === 0n || b < 0n || b + BigInt(p.xstateBv + 8) > BigInt(mem.bytes.length)) return 0n;
  return read(dv, Number(b) + p.xstateBv, 8) & c.expect.xfeatures;
}

/** Where two fits disagree for this frame, or undefined when they read it the same way. */
function disagreement(mem: Memory, a: LayoutCandidate, b: LayoutCandidate): LayoutConflict | undefined {
  const la = frameLayout(a.target);
  const lb = frameLayout(b.target);
  const at = Number(a.frame - mem.address);
  const pair = (field: string, offset: number, x: string, y: string): LayoutConflict => ({
    a,
    b,
    field,
    offset,
    values: [x, y],
  });
  if (a.target.kind !== b.target.kind) return pair('kind', at, a.target.kind, b.target.kind);
  if (a.frame !== b.frame) return pair('frame', at, hex(a.frame), hex(b.frame));
  if (la.structSize !== lb.structSize)
    return pair('frame size', at, String(la.structSize), String(lb.structSize));
  if (a.expect.xstateSize !== b.expect.xstateSize)
    return pair('sw_reserved.xstate_size', at, String(a.expect.xstateSize), String(b.expect.xstateSize));
  const present = presentOf(mem, a);
  const oa = componentOffsets(a.target, a.expect.xfeatures);
  const ob = componentOffsets(b.target, b.expect.xfeatures);
  const fp = plan(la);
  // Fits pass the fpstate check: the image starts where the kernel places it behind the frame.
  const bufAt = at + Number(fp.fpDelta) + fp.fsaveHeader;
  for (const nr of bitsOf(present)) {
    const x = oa?.get(nr);
    const y = ob?.get(nr);
    if (x === undefined && y === undefined) continue;
    if (x !== y)
      return pair(
        `${xfeatureName(nr)} (XSTATE_BV bit ${nr})`,
        bufAt + (x ?? y ?? 0),
        x === undefined ? 'absent' : `image byte ${x}`,
        y === undefined ? 'absent' : `image byte ${y}`,
      );
  }
  return undefined;
}

/**
 * Which layouts does the frame in `mem` fit? Tries each profile × frame kind × AMX state (in the
 * order given: the first profile is preferred, then kinds, then AMX states none → used) and keeps
 * the exact fits: every check passes against what that target's kernel writes. With no exact fit
 * it looks for a family fit: a profile whose CPU lays out the frame's own sw_reserved.xfeatures
 * in exactly xstate_size bytes (its XSAVE offsets agree with the CPU that wrote the frame) and
 * against which every other check passes. Of the fits, the first is chosen; fits that read the
 * frame differently (another kind, frame size, or another offset for a component XSTATE_BV says
 * is present) are a conflict, and nothing is chosen.
 */
export function inferFrameLayout(mem: Memory, o: InferOptions): InferredLayout {
  const kinds = o.kinds ?? deliverableKinds(o.config);
  const loc = o.locate;
  const exact: LayoutCandidate[] = [];
  const all: LayoutCandidate[] = [];
  for (const choice of o.profiles) {
    for (const kind of kinds) {
      const base = targetOrUndefined(kind, choice.profile, o.kernel, o.config, 'none');
      if (!base) continue;
      const states = possibleAmxStates(base.k, o.kernel.era, o.config, frameKinds[kind].abi).filter(
        (s) => o.amx === undefined || s === o.amx,
      );
      for (const amx of states) {
        const t = targetOrUndefined(kind, choice.profile, o.kernel, o.config, amx);
        if (!t) continue;
        const c = evaluate(mem, choice.ref, t, loc, 'exact', expectationOf(t));
        if (!c) continue;
        all.push(c);
        if (c.findings.length === 0) exact.push(c);
      }
    }
  }
  const fits = exact.length > 0 ? exact : familyFits(mem, o, kinds);
  const first = o.profiles[0]?.ref;
  const mine = all.filter((c) => c.ref === first);
  const best =
    fits.length > 0
      ? undefined
      : (mine.length > 0 ? mine : all).reduce<LayoutCandidate | undefined>(
          (b, c) => (b === undefined || c.findings.length < b.findings.length ? c : b),
          undefined,
        );
  const chosen = fits[0];
  let conflict: LayoutConflict | undefined;
  const equivalent: LayoutCandidate[] = [];
  if (chosen) {
    for (const c of fits) {
      const d = c === chosen ? undefined : disagreement(mem, chosen, c);
      if (d) conflict ??= d;
      else equivalent.push(c);
    }
  }
  return {
    chosen: conflict ? undefined : chosen,
    fits,
    equivalent,
    conflict,
    best,
    tried: all.length,
  };
}

function familyFits(mem: Memory, o: InferOptions, kinds: readonly FrameKindName[]): LayoutCandidate[] {
  const out: LayoutCandidate[] = [];
  for (const choice of o.profiles) {
    for (const kind of kinds) {
      const base = targetOrUndefined(kind, choice.profile, o.kernel, o.config, 'none');
      if (!base?.k.xsave) continue;
      const l0 = frameLayout(base);
      // The sizes to try: the one the frame's image claims (found below --top by placement).
      const loc = o.locate;
      const claims: { xfeatures: bigint; xstateSize: number }[] = [];
      if (loc && 'top' in loc) {
        for (const size of sizesBelowTop(mem, loc.top, l0)) {
          const frame = locateFrame(mem, loc, l0, size);
          const c = ownClaims(mem, frame, l0);
          if (c && c.xstateSize === size) claims.push(c);
        }
      } else {
        let frame: bigint;
        try {
          frame = locateFrame(mem, loc, l0);
        } catch {
          continue;
        }
        const c = ownClaims(mem, frame, l0);
        if (c) claims.push(c);
      }
      for (const claim of claims) {
        const x = claim.xfeatures;
        if ((x & XFEATURE_MASK.FPSSE) !== XFEATURE_MASK.FPSSE || (x & ~base.k.xcr0) !== 0n) continue;
        // A task with the frame's dynamic features has used them; else it has none.
        const dynamic = (x & dynamicXfeatures(base.k, o.kernel.era)) !== 0n;
        const amx: AmxState = dynamic ? 'used' : (o.amx ?? 'none');
        if (dynamic && o.amx !== undefined && o.amx !== 'used') continue;
        const t = targetOrUndefined(kind, choice.profile, o.kernel, o.config, amx);
        if (!t) continue;
        let size: number;
        try {
          size = xsaveLayout(t.profile.xsave, x, 'standard').size;
        } catch (e) {
          if (e instanceof SigframeError) continue;
          throw e;
        }
        if (size !== claim.xstateSize) continue;
        // The same layout as an exact fit of this profile is not a family fit: it failed there.
        if (x === t.task.userXfeatures && size === t.task.userSize) continue;
        const c = evaluate(mem, choice.ref, t, loc, 'family', imageExpectation(t, x, size));
        if (c && c.findings.length === 0) out.push(c);
      }
    }
  }
  return out;
}

/** A candidate as people read it: `amd-epyc-zen4-kvm x86_64 (AMX none)`. */
export function candidateName(c: Pick<LayoutCandidate, 'ref' | 'target'>): string {
  return `${c.ref} ${c.target.kind} (AMX ${c.target.amx})`;
}

/* ---- a bare XSAVE image: NT_X86_XSTATE and the like ---------------------------------------- */

export interface ImageComponent {
  readonly nr: number;
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  /** XSTATE_BV says the image holds it (else it is in its INIT state). */
  readonly present: boolean;
}

/** Profiles whose CPUs lay out the image's components at the same offsets, in the same size. */
export interface XsaveFamily {
  readonly profiles: readonly string[];
  readonly size: number;
  readonly components: readonly ImageComponent[];
}

export interface XsaveImageLayout {
  readonly xcr0: bigint;
  readonly size: number;
  readonly format: XsaveFormat;
  readonly xstateBv: bigint;
  /** Profiles whose kernel enables exactly `xcr0`, and whose image for it is `size` bytes. */
  readonly exact: readonly string[];
  /** Every family that fits, the one holding an exact profile first, then by profile name. */
  readonly families: readonly XsaveFamily[];
  /** The first family's components: where each of xcr0's components is in the image. */
  readonly components: readonly ImageComponent[] | undefined;
  readonly findings: readonly Finding[];
  /** Families that put a component XSTATE_BV says is present at different offsets. */
  readonly conflict?: {
    readonly component: string;
    readonly offsets: readonly { readonly profiles: readonly string[]; readonly offset: number }[];
  };
}

export interface XsaveImageOptions {
  readonly profiles: readonly ProfileChoice[];
  /** XCR0 of the process (default: the u64 at the start of sw_reserved, where NT_X86_XSTATE keeps it). */
  readonly xcr0?: bigint;
  /** The image's size (default: the bytes given). */
  readonly size?: number;
  readonly kernel?: KernelChoice;
  readonly config?: KernelConfig;
}

/**
 * The layout of a bare XSAVE image — a core file's NT_X86_XSTATE (the standard format, XCR0 in
 * sw_reserved's first word), or any image whose XCR0 and size are known: the shipped profiles it
 * fits exactly, the layout families (profiles whose offsets for XCR0's components agree and give
 * the size), and where each component is.
 */
export function inferXsaveLayout(image: Uint8Array, o: XsaveImageOptions): XsaveImageLayout {
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const size = o.size ?? image.length;
  const findings: Finding[] = [];
  const word = (off: number) => (off + 8 <= image.length ? dv.getBigUint64(off, true) : undefined);
  const xcr0 = o.xcr0 ?? word(SW_RESERVED.offset) ?? 0n;
  const bvAt = imageOffset('header.xfeatures');
  const xcAt = imageOffset('header.reserved1[0]');
  const xstateBv = word(bvAt) ?? 0n;
  const xcomp = word(xcAt) ?? 0n;
  const format: XsaveFormat = xcomp >> 63n === 1n ? 'compacted' : 'standard';
  const mask = format === 'compacted' ? xcomp & ~(1n << 63n) : xcr0;
  if (image.length < XSAVE_EXTENDED_START)
    findings.push(
      finding(
        'image',
        image.length,
        `at least ${XSAVE_EXTENDED_START} bytes (legacy region and header)`,
        `${image.length} bytes`,
        'Intel SDM Vol. 1 §13.4',
      ),
    );
  if ((xstateBv & ~xcr0) !== 0n)
    findings.push(
      finding('XSTATE_BV', bvAt, `within XCR0 ${hex(xcr0)}`, hex(xstateBv), 'Intel SDM Vol. 1 §13.4.2'),
    );
  if (format === 'standard' && xcomp !== 0n)
    findings.push(finding('XCOMP_BV', xcAt, '0x0 (standard format)', hex(xcomp), 'Intel SDM Vol. 1 §13.4.2'));
  const kernel = o.kernel ?? chooseKernel();
  const config = o.config ?? { bits: 64 };
  const exact: string[] = [];
  const groups = new Map<string, { profiles: string[]; components: ImageComponent[] }>();
  for (const { ref, profile } of o.profiles) {
    let regions: ReturnType<typeof xsaveLayout>;
    try {
      regions = xsaveLayout(profile.xsave, mask, format);
    } catch (e) {
      if (e instanceof SigframeError) continue;
      throw e;
    }
    if (regions.size !== size) continue;
    const components = regions.regions.flatMap((r) =>
      typeof r.nr === 'number' && r.offset >= XSAVE_EXTENDED_START
        ? [{ nr: r.nr, name: r.name, offset: r.offset, size: r.size, present: has(xstateBv, r.nr) }]
        : [],
    );
    const key = components.map((c) => `${c.nr}@${c.offset}`).join(' ');
    const g = groups.get(key) ?? { profiles: [], components };
    g.profiles.push(ref);
    groups.set(key, g);
    try {
      const k = systemTarget(profile, kernel, config).k;
      if (k.xcr0 === xcr0 && k.maxSize === size) exact.push(ref);
    } catch (e) {
      if (!(e instanceof SigframeError)) throw e;
    }
  }
  const families = [...groups.values()]
    .map((g) => ({ profiles: g.profiles, size, components: g.components }))
    .sort(
      (a, b) =>
        Number(b.profiles.some((p) => exact.includes(p))) -
          Number(a.profiles.some((p) => exact.includes(p))) || a.profiles[0]!.localeCompare(b.profiles[0]!),
    );
  let conflict: XsaveImageLayout['conflict'];
  const f0 = families[0];
  for (const c of f0?.components ?? []) {
    if (!c.present || conflict) continue;
    const offsets = families.map((f) => ({
      profiles: f.profiles,
      offset: f.components.find((x) => x.nr === c.nr)?.offset ?? -1,
    }));
    if (offsets.some((x) => x.offset !== c.offset)) conflict = { component: c.name, offsets };
  }
  return {
    xcr0,
    size,
    format,
    xstateBv,
    exact,
    families,
    components: f0?.components,
    findings,
    ...(conflict ? { conflict } : {}),
  };
}
