import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import type { Memory } from '../frame/sigreturn.js';
import type { SignalState } from '../frame/state.js';
import { InputError } from '../schema/errors.js';
import { type JsonInfer, j } from '../schema/json.js';

/**
 * A frame captured from a live kernel by native/capture.c: NAME.bin holds the bytes from the frame
 * start to the stack top, NAME.json this description — where the bytes were, how the signal was
 * delivered, the register patterns the helper set, and which bytes the kernel left unwritten
 * (found by capturing twice over different stack fills).
 */
export const captureSchema = j.object({
  format: j.literal('sigframe-capture/1'),
  scenario: j.string(),
  kind: j.oneOf(Object.keys(frameKinds) as FrameKindName[]),
  release: j.string(),
  /** The CPU profile to decode with: a shipped name, or a profile file next to this one. */
  profile: j.optional(j.string()),
  bin: j.string(),
  address: j.u64(),
  top: j.u64(),
  altstack: j.nullable(j.object({ sp: j.u64(), size: j.int(), flags: j.int(0, 0xffffffff) })),
  sp: j.optional(j.u64()),
  signal: j.int(1, 64),
  siginfo: j.boolean(),
  fault_address: j.optional(j.u64()),
  xcr0: j.u64(),
  init_mask: j.u64(),
  patterns: j.object({
    gpr: { describe: 'register name → "0x…"', parse: (v: unknown, p: string) => gprs(v, p) },
    vector_width: j.int(0, 64),
    vectors: j.array(j.hex()),
    k: j.array(j.u64()),
    /** x87 scenarios: ST0, ST1, … as FSTP stores them (80-bit, little-endian bytes). */
    st: j.optional(j.array(j.hex())),
    /** AMX scenarios with live tiles: the 64-byte TILECFG LDTILECFG loaded and each tile's bytes. */
    tilecfg: j.optional(j.hex()),
    tmm: j.optional(j.array(j.hex())),
  }),
  unwritten: j.array(j.array(j.int())),
  /**
   * Set when the CPU was emulated (e.g. "QEMU TCG"): which bytes of the XSAVE image its XSAVE
   * wrote, and which components it marked in use, are the emulator's choices, not a CPU's.
   */
  cpu_emulator: j.optional(j.string()),
});

export type CaptureInfo = JsonInfer<typeof captureSchema>;

function gprs(v: unknown, p: string): Record<string, bigint> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InputError(`${p}: expected an object`, { path: p });
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, j.u64().parse(x, `${p}.${k}`)]));
}

/**
 * A file a capture names (`bin`, its bytes; `profile`, the CPU's profile), resolved in the
 * capture's own folder: absolute paths and paths that leave the folder are refused, since a
 * capture names files beside it and sigframe has no option to read them from elsewhere.
 */
export function captureFilePath(capturePath: string, key: 'bin' | 'profile', name: unknown): string {
  const folder = resolve(dirname(capturePath));
  const what = key === 'bin' ? 'the captured bytes (NAME.bin beside it)' : 'the profile file beside it';
  if (typeof name !== 'string' || name.trim() === '')
    throw new InputError(`${capturePath}: ${key}: expected the file name of ${what}`, { path: key });
  if (isAbsolute(name) || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\'))
    throw new InputError(
      `${capturePath}: ${key} "${name}" is an absolute path: a capture's files are read from its own folder (${folder}), and sigframe has no option to read them from elsewhere; give a name relative to that folder`,
      { path: key },
    );
  const full = resolve(folder, name);
  const rel = relative(folder, full);
  if (rel === '')
    throw new InputError(
      `${capturePath}: ${key} "${name}" names the capture's folder itself, not a file in it`,
      {
        path: key,
      },
    );
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new InputError(
      `${capturePath}: ${key} "${name}" leaves the capture's folder (${folder}): a capture's files must lie inside it, and sigframe has no option to read them from elsewhere`,
      { path: key },
    );
  return full;
}

export interface Capture {
  readonly info: CaptureInfo;
  readonly memory: Memory;
  readonly delivery: SignalState['delivery'];
}

/** Checks a capture's description against its bytes; returns the memory and delivery it records. */
export function loadCapture(infoJson: unknown, bin: Uint8Array, where: string): Capture {
  const info = captureSchema.parse(infoJson, where);
  if (info.top - info.address !== BigInt(bin.length)) {
    throw new InputError(
      `${where}: ${info.bin} holds ${bin.length} bytes, but address..top spans ${info.top - info.address}`,
      { path: 'bin' },
    );
  }
  for (const [i, r] of info.unwritten.entries()) {
    if (r.length !== 2 || r[0]! >= r[1]! || r[1]! > bin.length)
      throw new InputError(`${where}: unwritten[${i}] is not a range inside the ${bin.length} bytes`, {
        path: `unwritten[${i}]`,
      });
  }
  // `sp` is the interrupted stack pointer when it is not the top: a frame on the normal stack, or
  // one nested below a handler's (on the alt stack, or where SS_AUTODISARM left none).
  const sp = info.sp ?? info.top;
  const delivery: SignalState['delivery'] = info.altstack
    ? {
        sp,
        onstack: true,
        altstack: { sp: info.altstack.sp, size: BigInt(info.altstack.size), flags: info.altstack.flags },
      }
    : { sp, onstack: false };
  return { info, memory: { address: info.address, bytes: bin }, delivery };
}

/** The kernel-written mask a capture records: 1 = written. */
export function writtenMask(info: CaptureInfo, length: number): Uint8Array {
  const m = new Uint8Array(length).fill(1);
  for (const [a, b] of info.unwritten) m.fill(0, a, b);
  return m;
}
