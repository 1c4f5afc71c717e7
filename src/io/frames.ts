import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import type { FrameKindName } from '../../layouts/frames.js';
import { buildFrame } from '../frame/build.js';
import { type DecodedFrame, decodeFrame, type FrameLocation } from '../frame/decode.js';
import { parseState, type SignalState } from '../frame/state.js';
import { frameTarget } from '../frame/target.js';
import { chooseKernel } from '../kernel/eras.js';
import type { AmxState } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import { InputError } from '../schema/errors.js';
import { type Capture, loadCapture } from './capture-file.js';
import { builtinProfileNames, loadProfile } from './profiles.js';

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
}

function readBounded(path: string): Buffer {
  if (!existsSync(path)) throw new InputError(`${path}: no such file`, { path });
  const size = statSync(path).size;
  if (size > MAX_FRAME_FILE) {
    throw new InputError(
      `${path}: ${size} bytes — larger than any signal frame region (limit ${MAX_FRAME_FILE})`,
      {
        path,
      },
    );
  }
  return readFileSync(path);
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { path });
  }
}

/** A profile named by a capture: a shipped name, or a file relative to the capture. */
function captureProfile(spec: string, base: string): string {
  if (spec === 'host' || builtinProfileNames().includes(spec)) return spec;
  return isAbsolute(spec) ? spec : join(base, spec);
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
  const config = o.config ?? { bits: 64 };
  const looksJson = raw.subarray(0, 64).toString('utf8').trimStart().startsWith('{');
  if (looksJson) {
    const value = parseJson(path, raw.toString('utf8')) as Record<string, unknown>;
    if (value.format === 'sigframe-capture/1') {
      const binPath = join(dirname(path), String(value.bin ?? ''));
      const capture = loadCapture(value, new Uint8Array(readBounded(binPath)), path);
      const info = capture.info;
      const profileRef = o.profile ?? captureProfile(info.profile ?? 'host', dirname(path));
      const profile = loadProfile(profileRef);
      const decoded = decodeFrame({
        profileRef,
        memory: capture.memory,
        kind: o.kind ?? info.kind,
        profile,
        kernel: chooseKernel(o.kernel ?? info.release),
        config,
        ...(o.amx ? { amx: o.amx } : {}),
        ...(o.locate ? { locate: o.locate } : {}),
        delivery: capture.delivery,
      });
      return { decoded, capture };
    }
    const stateJson = value.format === 'sigframe-state/1' ? value : value.state;
    if (stateJson && typeof stateJson === 'object')
      return { decoded: decodeState(parseState(stateJson, '$'), config) };
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
  const profileRef = o.profile ?? 'host';
  const profile = loadProfile(profileRef);
  const kernel = chooseKernel(
    o.kernel,
    profile.origin === 'host' ? profile.file.observed?.kernel : undefined,
  );
  return {
    decoded: decodeFrame({
      profileRef,
      memory: { address: o.address, bytes: new Uint8Array(raw) },
      kind: o.kind ?? 'x86_64',
      profile,
      kernel,
      config,
      ...(o.amx ? { amx: o.amx } : {}),
      ...(o.locate ? { locate: o.locate } : {}),
    }),
  };
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
  });
}

/** Reads STATE.json (a state, or a decode output holding one) for `build`. */
export function loadState(path: string): SignalState {
  const value = parseJson(path, readBounded(path).toString('utf8')) as Record<string, unknown>;
  const stateJson = value.format === 'sigframe-state/1' ? value : value.state;
  if (!stateJson)
    throw new InputError(`${path}: no "state" in it (expected format sigframe-state/1)`, { path });
  return parseState(stateJson, path);
}
