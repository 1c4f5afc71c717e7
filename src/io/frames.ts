import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { buildFrame } from '../frame/build.js';
import {
  type DecodedFrame,
  type DecodeRequest,
  decodeFrame,
  type FrameLocation,
  type LayoutChoice,
  type LayoutSource,
  reviseDecoded,
} from '../frame/decode.js';
import {
  candidateName,
  deliverableKinds,
  type Finding,
  formatFinding,
  type InferredLayout,
  imagesBelowTop,
  inferFrameLayout,
  type LayoutCandidate,
  type ProfileChoice,
} from '../frame/infer.js';
import { frameLayout } from '../frame/layout.js';
import type { Memory } from '../frame/sigreturn.js';
import { parseState, type SignalState } from '../frame/state.js';
import { frameTarget } from '../frame/target.js';
import { chooseKernel, type KernelChoice } from '../kernel/eras.js';
import type { AmxState } from '../kernel/task.js';
import { pagingOf, userRangeError, userSpace } from '../kernel/uaccess.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { DecodeError, InputError, SigframeError } from '../schema/errors.js';
import { type Capture, captureFilePath, loadCapture } from './capture-file.js';
import { openInput, readInput } from './files.js';
import { builtinProfileNames, loadBuiltinProfile, loadProfile } from './profiles.js';

/** Frame files are small; anything bigger is not a frame and is refused before it is read. */
export const MAX_FRAME_FILE = 1 << 24;

export interface FrameOptions {
  readonly address?: bigint;
  readonly locate?: FrameLocation;
  readonly kind?: FrameKindName;
  readonly profile?: string;
  readonly kernel?: string;
  readonly config?: KernelConfig;
  readonly amx?: AmxState;
  /** Decode with the given --profile even when the frame does not fit it (findings become notes). */
  readonly force?: boolean;
}

function readBounded(path: string): Buffer {
  return readInput(path, 'a frame, capture or state file', MAX_FRAME_FILE);
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { path });
  }
}

/** A profile named by a capture: a shipped name, or a file relative to the capture. */
function captureProfile(spec: string, capturePath: string): string {
  if (spec === 'host' || builtinProfileNames().includes(spec)) return spec;
  return captureFilePath(capturePath, 'profile', spec);
}

export interface LoadedFrame {
  readonly decoded: DecodedFrame;
  readonly capture?: Capture;
}

/**
 * Reads a frame for `decode` and `diff`: a capture (NAME.json next to NAME.bin), a raw byte file
 * with --address, or a state / decode output (JSON with "state"), which is built first.
 */
export function loadFrame(path: string, o: FrameOptions = {}): LoadedFrame {
  const raw = readBounded(path);
  if (raw.length >= 4 && raw[0] === 0x7f && raw.subarray(1, 4).toString('latin1') === 'ELF') {
    throw new InputError(`${path}: an ELF file: use \`sigframe core ${path}\` for core dumps`, { path });
  }
  const config = o.config ?? { bits: 64 };
  const looksJson = raw.subarray(0, 64).toString('utf8').trimStart().startsWith('{');
  if (looksJson) {
    const value = parseJson(path, raw.toString('utf8')) as Record<string, unknown>;
    if (value.format === 'sigframe-capture/1') {
      const binPath = captureFilePath(path, 'bin', value.bin);
      const capture = loadCapture(value, new Uint8Array(readBounded(binPath)), path);
      const info = capture.info;
      const inUser = userRangeError(
        `${path}: address`,
        info.address,
        info.address,
        info.top - info.address,
        `the captured bytes (address..top)`,
        userSpace(frameKinds[o.kind ?? info.kind].abi, config.bits, 'unknown'),
        'address',
      );
      if (inUser) throw inUser;
      const named = captureProfile(info.profile ?? 'host', path);
      const decoded = resolveFrame(capture.memory, {
        ...(o.profile
          ? { given: choiceOf(o.profile) }
          : { named: { ...choiceOf(named), source: 'capture' } }),
        ...(o.kind ? { kind: o.kind } : {}),
        defaultKind: info.kind,
        kernel: chooseKernel(o.kernel ?? info.release),
        config,
        ...(o.amx ? { amx: o.amx } : {}),
        ...(o.locate ? { locate: o.locate } : {}),
        delivery: capture.delivery,
        ...(o.force ? { force: true } : {}),
      });
      return { decoded, capture };
    }
    const stateJson = value.format === 'sigframe-state/1' ? value : value.state;
    if (stateJson && typeof stateJson === 'object')
      return { decoded: decodeState(parseState(stateJson, '$'), o.config) };
    throw new InputError(
      `${path}: JSON, but neither a capture (sigframe-capture/1) nor a state (sigframe-state/1)`,
      {
        path,
      },
    );
  }
  if (o.address === undefined) {
    throw new InputError(`${path}: raw frame bytes need --address (the address of the first byte)`, {
      path: 'address',
    });
  }
  return rawFrameDecoder(path, o)({ address: o.address, bytes: new Uint8Array(raw) });
}

/**
 * The decoder of raw frame bytes from `path` under the options: the profile (--profile, else the
 * host's, else inference) resolved once, then each piece of memory decoded with it.
 */
function rawFrameDecoder(path: string, o: FrameOptions): (memory: Memory) => LoadedFrame {
  const config = o.config ?? { bits: 64 };
  // The bytes must be user memory of the task: checked for the loosest end the options allow
  // (an x86_64 task, 5-level paging, unless --abi or --profile say less), then for the kind found.
  const givenProfile = o.profile ? choiceOf(o.profile) : undefined;
  const paging = givenProfile ? pagingOf(givenProfile.profile.cpuid) : 'unknown';
  const checkAddress = (memory: Memory, kind: FrameKindName | undefined) => {
    const abi = kind ? frameKinds[kind].abi : config.bits === 32 ? 'ia32' : 'x86_64';
    const e = userRangeError(
      '--address',
      memory.address,
      memory.address,
      BigInt(memory.bytes.length),
      `the bytes of ${path}`,
      userSpace(abi, config.bits, paging),
    );
    if (e) throw e;
  };
  const opts = {
    ...(o.kind ? { kind: o.kind } : {}),
    defaultKind: o.kind ?? ('x86_64' as const),
    config,
    ...(o.amx ? { amx: o.amx } : {}),
    ...(o.locate ? { locate: o.locate } : {}),
    ...(o.force ? { force: true } : {}),
  };
  let decode: (memory: Memory) => DecodedFrame;
  if (givenProfile) {
    const given = givenProfile;
    const kernel = chooseKernel(
      o.kernel,
      given.profile.origin === 'host' ? given.profile.file.observed?.kernel : undefined,
    );
    const r = { ...opts, given, kernel };
    decode = (memory) => resolveFrame(memory, r);
  } else {
    // No --profile: the host's layout if the frame fits it, else whatever it fits.
    let host: (ProfileChoice & { source: LayoutSource }) | undefined;
    let hostNote: string | undefined;
    try {
      host = { ...choiceOf('host'), source: 'host' };
    } catch (e) {
      if (!(e instanceof SigframeError)) throw e;
      hostNote = `the host's profile is unavailable (${e.message}): inferred from the shipped profiles`;
    }
    const kernel = chooseKernel(o.kernel, host?.profile.file.observed?.kernel);
    decode = (memory) => {
      const decoded = resolveFrame(memory, { ...opts, ...(host ? { named: host } : {}), kernel });
      return hostNote ? reviseDecoded(decoded, { notes: [...decoded.notes, hostNote] }) : decoded;
    };
  }
  return (memory) => {
    checkAddress(memory, o.kind);
    const decoded = decode(memory);
    checkAddress(memory, decoded.layout.kind);
    return { decoded };
  };
}

/** Where the frames of a bulk input are: records of one size, or offsets into one memory image. */
export type FrameSpans = { readonly frameSize: number } | { readonly framesAt: readonly number[] };

/**
 * The most bytes one frame and its FP state span: the largest frame struct, the FSAVE header, an
 * XSAVE image with AMX tiles and every component after them, and the alignment between.
 */
export const MAX_FRAME_SPAN = 1 << 15;

/** Bytes a bulk decode reads at a time (whole records of --frame-size). */
const BULK_CHUNK = 1 << 20;

export type BulkFrame =
  | { readonly index: number; readonly offset: number; readonly decoded: DecodedFrame }
  | { readonly index: number; readonly offset: number; readonly error: SigframeError };

/**
 * Decodes many raw frames from one file as the caller iterates, holding one chunk of it at a
 * time (a MiB of whole records, or one frame's span): `frameSize` N reads records of N bytes,
 * each captured at `address` (a recorder writing every delivery on one alt stack); `framesAt`
 * reads each offset of one memory image whose first byte is at `address` (a stack dump holding
 * several frames), up to MAX_FRAME_SPAN bytes of it.
 * A frame that cannot be decoded is yielded as its error; the rest go on.
 */
export function* decodeFrames(
  path: string,
  spans: FrameSpans,
  o: FrameOptions & { address: bigint },
): Generator<BulkFrame> {
  const f = openInput(path, 'raw frame bytes');
  try {
    const decoder = rawFrameDecoder(path, o);
    // Records are read a chunk of whole records at a time: a read and a buffer per frame cost
    // about as much as the frame's decode. Each chunk is a new buffer (the decoded frames read
    // their bytes on first use).
    const chunk = {
      start: 0,
      bytes: new Uint8Array(0) as Uint8Array,
      at(offset: number, length: number): Uint8Array {
        if (offset + Math.min(length, f.size - offset) > this.start + this.bytes.length) {
          const records = Math.max(1, Math.floor(BULK_CHUNK / length));
          this.start = offset;
          this.bytes = f.read(offset, Math.min(records * length, f.size - offset));
        }
        const from = offset - this.start;
        return this.bytes.subarray(from, Math.min(from + length, this.bytes.length));
      },
    };
    const places =
      'frameSize' in spans
        ? (function* () {
            for (let at = 0, i = 0; at < f.size; at += spans.frameSize, i++)
              yield [i, at, spans.frameSize] as const;
          })()
        : spans.framesAt.map((at, i) => [i, at, MAX_FRAME_SPAN] as const);
    for (const [index, offset, length] of places) {
      if (offset >= f.size) {
        yield {
          index,
          offset,
          error: new InputError(`offset ${offset} is past the end of ${path} (${f.size} bytes)`, {
            path: 'frames-at',
          }),
        };
        continue;
      }
      const bytes =
        'frameSize' in spans ? chunk.at(offset, length) : f.read(offset, Math.min(length, f.size - offset));
      const address = 'frameSize' in spans ? o.address : o.address + BigInt(offset);
      try {
        yield { index, offset, decoded: decoder({ address, bytes }).decoded };
      } catch (e) {
        if (!(e instanceof SigframeError)) throw e;
        yield { index, offset, error: e };
      }
    }
  } finally {
    f.close();
  }
}

function choiceOf(ref: string): ProfileChoice {
  return { ref, profile: loadProfile(ref) };
}

/** Every shipped profile, by name: the candidates inference tries after the preferred one. */
export function shippedProfileChoices(): ProfileChoice[] {
  return builtinProfileNames().map((ref) => ({ ref, profile: loadBuiltinProfile(ref) }));
}

export interface Resolve {
  /** --profile: the frame must fit it (or --force). */
  readonly given?: ProfileChoice;
  /** The capture's profile or the host: used when the frame fits, else inference. */
  readonly named?: ProfileChoice & { readonly source: LayoutSource };
  /** --abi */
  readonly kind?: FrameKindName;
  readonly defaultKind: FrameKindName;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  readonly amx?: AmxState;
  readonly locate?: FrameLocation;
  readonly delivery?: SignalState['delivery'];
  readonly force?: boolean;
}

const MAX_LISTED = 3;

function listFindings(fs: readonly Finding[]): string {
  const shown = fs.slice(0, MAX_LISTED).map(formatFinding).join('; ');
  return fs.length > MAX_LISTED ? `${shown}; and ${fs.length - MAX_LISTED} more` : shown;
}

/** Kinds to try: --abi alone, else the default first, then the others the kernel delivers. */
function kindsToTry(r: Resolve): FrameKindName[] {
  if (r.kind) return [r.kind];
  return [r.defaultKind, ...deliverableKinds(r.config).filter((k) => k !== r.defaultKind)];
}

/**
 * Decodes a frame with the layout it fits: --profile's (strict: a frame that does not fit is an
 * error unless --force), else the capture's or the host's when it fits, else the one inference
 * finds among the shipped profiles, frame kinds and AMX states (src/frame/infer.ts).
 */
export function resolveFrame(memory: Memory, r: Resolve): DecodedFrame {
  const base = {
    memory,
    kernel: r.kernel,
    config: r.config,
    ...(r.delivery ? { delivery: r.delivery } : {}),
  };
  const first = r.given ?? r.named;
  const kind = r.kind ?? r.defaultKind;
  let firstTry: DecodedFrame | undefined;
  let firstError: SigframeError | undefined;
  if (first) {
    const source: LayoutSource = r.given ? 'profile' : r.named!.source;
    const why = r.given
      ? `--profile ${first.ref}`
      : source === 'capture'
        ? `the capture names ${first.ref}, and the frame fits it`
        : source === 'core'
          ? `the core's XSAVE layout (${first.ref}), and the frame fits it`
          : "no --profile: the frame fits the host's layout";
    try {
      // Named field by field: a bulk decode makes this request once per frame, and V8 copies
      // `{ ...base, k: v }` through its slow path.
      firstTry = decodeFrame({
        memory,
        kernel: r.kernel,
        config: r.config,
        delivery: r.delivery,
        profileRef: first.ref,
        profile: first.profile,
        kind,
        amx: r.amx,
        locate: r.locate,
        layout: { source, why, candidates: [] },
      });
    } catch (e) {
      if (!(e instanceof SigframeError)) throw e;
      firstError = e;
    }
    if (firstTry && firstTry.findings.length === 0) return firstTry;
  }
  const firstName = first ? `${first.ref} ${kind}${firstTry ? ` (AMX ${firstTry.layout.amx})` : ''}` : '';
  const misfit = firstTry
    ? `the frame does not fit ${firstName}: ${listFindings(firstTry.findings)}${belowTop(memory, r, firstTry)}`
    : firstError
      ? `the frame does not fit ${firstName}: ${firstError.message}`
      : undefined;
  // In a layout's why, the first misfit is enough; errors list more.
  const misfitShort = firstTry
    ? `not ${firstName}: ${formatFinding(firstTry.findings[0]!)}`
    : firstError
      ? `not ${firstName}: ${firstError.message}`
      : undefined;
  const kinds = kindsToTry(r);
  if (r.given) {
    // --profile fixes the CPU; without --abi the frame kind (and AMX state) may still be inferred.
    const inferred =
      r.kind && r.amx
        ? undefined
        : inferFrameLayout(memory, {
            profiles: [r.given],
            kernel: r.kernel,
            config: r.config,
            kinds,
            ...(r.amx ? { amx: r.amx } : {}),
            ...(r.locate ? { locate: r.locate } : {}),
          });
    const c = inferred?.chosen;
    if (c && c.fit === 'exact')
      return decodeCandidate(
        base,
        c,
        'profile',
        `--profile ${r.given.ref}; ${misfitShort}; ${describeChoice(c, inferred!)}`,
        inferred!,
      );
    if (firstError) throw firstError;
    if (r.force && firstTry)
      return reviseDecoded(firstTry, {
        layout: { ...firstTry.layout, why: `--profile ${r.given.ref} --force, although ${misfit}` },
        notes: [
          ...firstTry.notes,
          ...firstTry.findings.map((f) => `does not fit: ${formatFinding(f)} (${f.rule})`),
        ],
      });
    throw new DecodeError(
      `${misfit}. ${suggestion(memory, r)}, or --force to decode it with ${r.given.ref} anyway`,
      { path: firstTry!.findings[0]!.field, offset: firstTry!.findings[0]!.offset },
    );
  }
  let shipped = shippedProfileChoices();
  if (r.named) shipped = [r.named, ...shipped.filter((p) => p.ref !== r.named!.ref)];
  const inferred = inferFrameLayout(memory, {
    profiles: shipped,
    kernel: r.kernel,
    config: r.config,
    kinds,
    ...(r.amx ? { amx: r.amx } : {}),
    ...(r.locate ? { locate: r.locate } : {}),
  });
  if (inferred.conflict) {
    const x = inferred.conflict;
    throw new DecodeError(
      `${misfit ? `${misfit}; ` : ''}the frame fits both ${candidateName(x.a)} and ${candidateName(x.b)}, which read it differently: ${x.field} at byte ${x.offset} is ${x.values[0]} vs ${x.values[1]}. Name the layout with --profile (and --abi)`,
      { path: x.field, offset: x.offset },
    );
  }
  const c = inferred.chosen;
  if (c) {
    const why = `${misfitShort ? `${misfitShort}; ` : ''}${describeChoice(c, inferred)}`;
    return decodeCandidate(base, c, 'inferred', why, inferred);
  }
  if (firstError) throw firstError;
  const best = inferred.best;
  const f = firstTry?.findings[0] ?? best?.findings[0];
  const what =
    misfit ??
    (best
      ? `the frame fits no layout; closest: ${candidateName(best)}: ${listFindings(best.findings)}`
      : 'no layout to try');
  if (r.force && firstTry)
    return reviseDecoded(firstTry, {
      layout: { ...firstTry.layout, why: `--force, although ${what}` },
      notes: [
        ...firstTry.notes,
        ...firstTry.findings.map((x) => `does not fit: ${formatFinding(x)} (${x.rule})`),
      ],
    });
  throw new DecodeError(
    `${what}; and it fits none of the ${inferred.tried} shipped layouts (profile × frame kind × AMX state) either. Check --address (and --frame/--ucontext/--top), or name the layout with --profile and --abi`,
    f ? { path: f.field, offset: f.offset } : {},
  );
}

/** Below --top: what the image the kernel would have placed there for its own size says about itself. */
function belowTop(memory: Memory, r: Resolve, d: DecodedFrame): string {
  const loc = r.locate;
  if (!loc || !('top' in loc)) return '';
  const t = frameLayout(stateTarget(d.state, r.config));
  const own = imagesBelowTop(memory, loc.top, t)[0];
  if (!own || (own.xfeatures === t.target.task.userXfeatures && own.xstateSize === t.target.task.userSize))
    return '';
  return `. Below --top ${`0x${loc.top.toString(16)}`} lies an FP state that says sw_reserved.xfeatures 0x${own.xfeatures.toString(16)}, xstate_size ${own.xstateSize} (at byte ${own.offset}): the profile's task has 0x${t.target.task.userXfeatures.toString(16)} and ${t.target.task.userSize}, so the frame was placed for the wrong size`;
}

/** Where the frame would fit, for an error about --profile: the inferred layout, when there is one. */
function suggestion(memory: Memory, r: Resolve): string {
  try {
    const inferred = inferFrameLayout(memory, {
      profiles: shippedProfileChoices(),
      kernel: r.kernel,
      config: r.config,
      kinds: kindsToTry(r),
      ...(r.locate ? { locate: r.locate } : {}),
    });
    const c = inferred.chosen;
    if (c)
      return `It fits ${candidateName(c)}: drop --profile to infer the layout, or give --profile ${c.ref}${c.target.kind !== (r.kind ?? r.defaultKind) ? ` --abi ${c.target.kind}` : ''}`;
  } catch (e) {
    if (!(e instanceof SigframeError)) throw e;
  }
  return 'It fits no shipped layout either: check --address and --abi';
}

function describeChoice(c: LayoutCandidate, inferred: InferredLayout): string {
  const others = inferred.equivalent.filter((x) => x !== c);
  const how =
    c.fit === 'exact'
      ? `it fits ${candidateName(c)} exactly`
      : `no shipped profile has XCR0 ${`0x${c.expect.xfeatures.toString(16)}`} with ${c.expect.xstateSize}-byte images, but ${c.ref}'s XSAVE offsets lay the frame's components out in exactly that size`;
  const also =
    others.length > 0
      ? ` (${others.length} equivalent layout${others.length > 1 ? 's' : ''}, the same offsets for what it holds: ${others.map(candidateName).join(', ')})`
      : '';
  return `${how}${also}`;
}

function decodeCandidate(
  base: Pick<DecodeRequest, 'memory' | 'kernel' | 'config' | 'delivery'>,
  c: LayoutCandidate,
  source: LayoutSource,
  why: string,
  inferred: InferredLayout,
): DecodedFrame {
  const candidates: LayoutChoice['candidates'] = inferred.equivalent
    .filter((x) => x !== c)
    .map((x) => ({ profile: x.ref, kind: x.target.kind, amx: x.target.amx, fit: x.fit }));
  return decodeFrame({
    ...base,
    profileRef: c.ref,
    profile: c.target.profile as Profile,
    kind: c.target.kind,
    amx: c.target.amx,
    locate: { frame: c.frame },
    ...(c.fit === 'family' ? { expect: c.expect } : {}),
    layout: { source, why, candidates },
  });
}

/** Target of a state: its profile, kernel and configuration. */
export function stateTarget(state: SignalState, config?: KernelConfig) {
  const cfg: KernelConfig = config ?? {
    bits: state.kernel_bits === '32' ? 32 : 64,
    ...(state.ia32_emulation === false ? { ia32Emulation: false } : {}),
  };
  return frameTarget(state.kind, loadProfile(state.profile), chooseKernel(state.kernel), cfg, state.amx);
}

/** A state's frame, built and read back, so states and captures compare field by field. */
export function decodeState(state: SignalState, config?: KernelConfig): DecodedFrame {
  const t = stateTarget(state, config);
  const built = buildFrame(state, t);
  return decodeFrame({
    profileRef: state.profile,
    memory: { address: built.address, bytes: built.bytes },
    kind: state.kind,
    profile: t.profile,
    kernel: t.kernel,
    config: t.config,
    amx: state.amx,
    delivery: state.delivery,
    layout: { source: 'profile', why: `the state names ${state.profile}`, candidates: [] },
  });
}

/** Reads STATE.json (a state, or a decode output holding one) for `build`. */
export function loadState(path: string): SignalState {
  const parsed = parseJson(path, readBounded(path).toString('utf8'));
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InputError(`${path}: expected a JSON object (a state, sigframe-state/1)`, { path });
  const value = parsed as Record<string, unknown>;
  const stateJson = value.format === 'sigframe-state/1' ? value : value.state;
  if (!stateJson)
    throw new InputError(`${path}: no "state" in it (expected format sigframe-state/1)`, { path });
  return parseState(stateJson, path);
}
