import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { type BuiltFrame, buildFrame } from '../frame/build.js';
import type { SignalState } from '../frame/state.js';
import { frameTarget } from '../frame/target.js';
import type { KernelChoice } from '../kernel/eras.js';
import { fsaveHeaderSize } from '../kernel/fpu_signal.js';
import { systemTarget } from '../kernel/system.js';
import { type AmxState, INIT_PKRU_VALUE, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { encodeInto } from '../schema/encode.js';
import { InputError, SigframeError } from '../schema/errors.js';
import { locate } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import {
  bitsOf,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_SIZE,
  has,
  XSAVE_HDR_SIZE,
  XSTATE_BV_OFFSET,
  xfeatureName,
} from '../xsave/catalog.js';
import { xstateSize } from '../xsave/layout.js';
import { mxcsrInvalid } from '../xsave/restore.js';

/** Why a conversion cannot be done: the destination lacks something the source state uses. */
export class ConvertRefused extends SigframeError {}

function names(mask: bigint): string {
  return bitsOf(mask).map(xfeatureName).join(', ');
}

/**
 * Moves a signal state to another CPU, component by component, as rr does for XSAVE data: the
 * registers stay, their positions follow the destination's CPUID offsets, and the frame is built
 * again by the destination kernel's rules (placement, sizes, sw_reserved). Refused when the
 * destination task cannot hold a component the state has in use.
 */
export function convertState(
  state: SignalState,
  to: Profile,
  toRef: string,
  kernel: KernelChoice,
  config: KernelConfig,
): { state: SignalState; frame: BuiltFrame; notes: string[] } {
  const abi = frameKinds[state.kind].abi;
  const { k } = systemTarget(to, kernel, config);
  const inUse = (state.fpu?.xstate_bv ?? 0n) & ~XFEATURE_MASK.FPSSE;
  let amx: AmxState = state.amx;
  if (!possibleAmxStates(k, kernel.era, config, abi).includes(amx)) {
    if (inUse & XFEATURE_MASK.XTILE)
      throw new ConvertRefused(`${to.name} has no AMX, and the state's tiles are in use`);
    amx = 'none';
  }
  const t = frameTarget(state.kind, to, kernel, config, amx);
  const missing = inUse & ~t.task.userXfeatures;
  if (missing !== 0n) {
    throw new ConvertRefused(
      `${to.name} cannot hold ${names(missing)}, which the state has in use (XSTATE_BV)`,
    );
  }
  const notes: string[] = [];
  let fpu = state.fpu;
  if (fpu && has(t.task.userXfeatures, XFEATURE.PKRU) && fpu.pkru === undefined && !fpu.components.PKRU) {
    // The source had no protection keys; the destination kernel gives new tasks init_pkru_value.
    fpu = { ...fpu, pkru: INIT_PKRU_VALUE };
    notes.push(
      `${to.name} has PKRU and the state none: it gets the kernel's default 0x${INIT_PKRU_VALUE.toString(16)} (key 0 only)`,
    );
  }
  const moved: SignalState = { ...state, profile: toRef, amx, fpu };
  try {
    return { state: moved, frame: buildFrame(moved, t), notes };
  } catch (e) {
    if (e instanceof InputError) throw new ConvertRefused(`on ${to.name}: ${e.message}`);
    throw e;
  }
}

/** A mask's component names, the first few. */
function shortNames(mask: bigint): string {
  const all = bitsOf(mask).map(xfeatureName);
  return all.length > 4 ? `${all.slice(0, 4).join(', ')} and ${all.length - 4} more` : all.join(', ');
}

/** What validateXsaveImage() found an image to be. */
export interface XsaveImageInfo {
  /** The XCR0 the image was saved with: sw_reserved.xfeatures, or the task's matching its size. */
  readonly xcr0: bigint;
  /** Its standard-format size for that XCR0 (without MAGIC2). */
  readonly size: number;
  readonly xstateBv: bigint;
  /** sw_reserved as a signal frame's (or ptrace's) image carries it: FP_XSTATE_MAGIC1 first. */
  readonly swReserved?: { readonly extendedSize: number; readonly magic2: boolean };
}

const SW = {
  magic1: locate(fpstate_64, dataModels.lp64, 'sw_reserved.magic1').offset,
  extended: locate(fpstate_64, dataModels.lp64, 'sw_reserved.extended_size').offset,
  xfeatures: locate(fpstate_64, dataModels.lp64, 'sw_reserved.xfeatures').offset,
  xstateSize: locate(fpstate_64, dataModels.lp64, 'sw_reserved.xstate_size').offset,
};
const MXCSR_AT = locate(fpstate_64, dataModels.lp64, 'mxcsr').offset;
const XCOMP_BV_AT = FXSAVE_SIZE + locate(xstate_header, dataModels.lp64, 'reserved1').offset;

function bad(what: string, offset: number, path: string): InputError {
  return new InputError(`the XSAVE image: ${what}`, { path, offset });
}

/**
 * Checks bytes claimed to be a standard-format XSAVE image saved on `from` (its kernel's XCR0 and
 * sizes), before anything is moved: an image that carries sw_reserved (FP_XSTATE_MAGIC1 at byte
 * 464, as signal frames and ptrace's NT_X86_XSTATE write it) must agree with itself — its
 * xfeatures within the kernel's XCR0, its xstate_size the standard size for them, the image that
 * long (or that plus MAGIC2) — and one without it must be as long as the task's image (default
 * features, or all of them when AMX is used). Then XSTATE_BV lies within that XCR0, XCOMP_BV is 0
 * (the standard form), header bytes 8..63 are zero and MXCSR within MXCSR_MASK — what XRSTOR
 * requires. Anything else is an InputError naming the field and its byte offset.
 */
export function validateXsaveImage(
  image: Uint8Array,
  from: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
): XsaveImageInfo {
  const min = FXSAVE_SIZE + XSAVE_HDR_SIZE;
  if (image.length < min)
    throw bad(
      `${image.length} bytes; an XSAVE image is at least ${min} (the legacy region and the header)`,
      image.length,
      'size',
    );
  const kf = systemTarget(from, kernel, config).k;
  if (!kf.xsave)
    throw new InputError(
      `--from ${from.name}: its kernel does not use XSAVE (${kf.xsaveDisabledBecause ?? 'no XSAVE'}), so it saves no XSAVE images`,
      { path: 'from' },
    );
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => dv.getBigUint64(o, true);
  const sizes = `${from.name}'s kernel (XCR0 0x${kf.xcr0.toString(16)})`;
  let xcr0: bigint;
  let size: number;
  let swReserved: XsaveImageInfo['swReserved'];
  if (u32(SW.magic1) === K.FP_XSTATE_MAGIC1) {
    xcr0 = u64(SW.xfeatures);
    if ((xcr0 & ~kf.xcr0) !== 0n || (xcr0 & XFEATURE_MASK.FPSSE) !== XFEATURE_MASK.FPSSE)
      throw bad(
        `sw_reserved.xfeatures (byte ${SW.xfeatures}) is 0x${xcr0.toString(16)}, not a set of features ${sizes} saves (FP and SSE, within its XCR0)`,
        SW.xfeatures,
        'sw_reserved.xfeatures',
      );
    size = xstateSize(from.xsave, xcr0, 'standard');
    const said = u32(SW.xstateSize);
    if (said !== size)
      throw bad(
        `sw_reserved.xstate_size (byte ${SW.xstateSize}) is ${said}, but the standard-format size for xfeatures 0x${xcr0.toString(16)} on ${from.name} is ${size}`,
        SW.xstateSize,
        'sw_reserved.xstate_size',
      );
    const extendedSize = u32(SW.extended);
    const magic = K.FP_XSTATE_MAGIC2_SIZE;
    const fsave = fsaveHeaderSize(true, kf);
    if (extendedSize !== size + magic && extendedSize !== size + magic + fsave)
      throw bad(
        `sw_reserved.extended_size (byte ${SW.extended}) is ${extendedSize}, expected ${size + magic} (xstate_size + MAGIC2)${fsave ? ` or ${size + magic + fsave} (with the FSAVE header of a 32-bit frame)` : ''}`,
        SW.extended,
        'sw_reserved.extended_size',
      );
    const withMagic2 = image.length === size + magic;
    if (image.length !== size && !withMagic2)
      throw bad(
        `${image.length} bytes, but its sw_reserved says xstate_size ${size} (the image alone, or ${size + magic} with MAGIC2 after it)`,
        Math.min(image.length, size),
        'size',
      );
    if (withMagic2 && u32(size) !== K.FP_XSTATE_MAGIC2)
      throw bad(
        `the 4 bytes after the image (byte ${size}) are 0x${u32(size).toString(16)}, not FP_XSTATE_MAGIC2 0x${K.FP_XSTATE_MAGIC2.toString(16)}`,
        size,
        'magic2',
      );
    swReserved = { extendedSize, magic2: withMagic2 };
  } else {
    const options = [
      { xcr0: kf.userDefault, size: kf.defaultSize, what: 'its tasks' },
      { xcr0: kf.xcr0, size: kf.maxSize, what: 'a task that uses every feature (AMX)' },
    ];
    const match = options.find((o) => o.size === image.length);
    if (!match) {
      const expect = [...new Set(options.map((o) => o.size))].join(' or ');
      throw bad(
        `${image.length} bytes, but a standard-format image of ${sizes} is ${expect} bytes (and sw_reserved at byte ${SW.magic1} does not start with FP_XSTATE_MAGIC1 to say otherwise)`,
        Math.min(image.length, ...options.map((o) => o.size)),
        'size',
      );
    }
    ({ xcr0, size } = match);
  }
  const xstateBv = u64(XSTATE_BV_OFFSET);
  const outside = xstateBv & ~xcr0;
  if (outside !== 0n)
    throw bad(
      `XSTATE_BV (header.xfeatures, byte ${XSTATE_BV_OFFSET}) is 0x${xstateBv.toString(16)}, which sets 0x${outside.toString(16)} (${shortNames(outside)}) outside the image's XCR0 0x${xcr0.toString(16)}`,
      XSTATE_BV_OFFSET,
      'header.xfeatures',
    );
  const xcompBv = u64(XCOMP_BV_AT);
  if (xcompBv !== 0n)
    throw bad(
      `XCOMP_BV (header, byte ${XCOMP_BV_AT}) is 0x${xcompBv.toString(16)}: ${xcompBv >> 63n ? 'a compacted-format image; convert reads the standard format' : 'a standard-format image has 0 there'}`,
      XCOMP_BV_AT,
      'header.reserved1',
    );
  for (let o = XCOMP_BV_AT + 8; o < FXSAVE_SIZE + XSAVE_HDR_SIZE; o++)
    if (image[o] !== 0)
      throw bad(
        `header byte ${o - FXSAVE_SIZE} (byte ${o}) is 0x${image[o]!.toString(16)}: the header's reserved bytes are zero`,
        o,
        'header.reserved',
      );
  const mxcsrBad = mxcsrInvalid(u32(MXCSR_AT), u32(MXCSR_AT + 4));
  if (mxcsrBad) throw bad(`${mxcsrBad} (byte ${MXCSR_AT}): XRSTOR would raise #GP`, MXCSR_AT, 'mxcsr');
  return { xcr0, size, xstateBv, ...(swReserved ? { swReserved } : {}) };
}

/**
 * Relocates a standard-format XSAVE image from one CPU's layout to another's: the legacy region
 * and header as they are, every component XSTATE_BV marks in use moved to its destination
 * offset. The image is validated against `from` first (validateXsaveImage(): bad input is an
 * InputError); a valid image the destination cannot hold is a ConvertRefused. The result is sized
 * for the destination kernel's XCR0; an image that carried sw_reserved gets the destination's
 * (and MAGIC2 when it had one).
 */
export function convertImage(
  image: Uint8Array,
  from: Profile,
  to: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
): Uint8Array {
  const src = validateXsaveImage(image, from, kernel, config);
  const kb = systemTarget(to, kernel, config).k;
  if (!kb.xsave)
    throw new ConvertRefused(
      `${to.name}'s kernel does not use XSAVE (${kb.xsaveDisabledBecause ?? 'no XSAVE'})`,
    );
  const hdr = decode(xstate_header, dataModels.lp64, image, FXSAVE_SIZE);
  const inUse = src.xstateBv;
  const missing = inUse & ~kb.xcr0;
  if (missing !== 0n)
    throw new ConvertRefused(`${to.name} has no ${names(missing)}, which the image has in use`);
  const dstXcr0 = kb.xcr0;
  const dstSize = xstateSize(to.xsave, dstXcr0, 'standard');
  const magic2 = src.swReserved?.magic2 === true;
  const out = new Uint8Array(dstSize + (magic2 ? K.FP_XSTATE_MAGIC2_SIZE : 0));
  const legacy = decode(fpstate_64, dataModels.lp64, image, 0);
  if (src.swReserved)
    legacy.sw_reserved = {
      ...legacy.sw_reserved,
      extended_size: dstSize + (src.swReserved.extendedSize - src.size),
      xfeatures: dstXcr0,
      xstate_size: dstSize,
    };
  encodeInto(fpstate_64, dataModels.lp64, legacy, out, 0);
  encodeInto(xstate_header, dataModels.lp64, { ...hdr, reserved1: [0n, 0n] }, out, FXSAVE_SIZE);
  for (const nr of bitsOf(inUse).filter((n) => n >= FIRST_EXTENDED_XFEATURE)) {
    const s = from.xsave.components.get(nr)!;
    const d = to.xsave.components.get(nr)!;
    out.set(image.subarray(s.offset, s.offset + Math.min(s.size, d.size)), d.offset);
  }
  if (magic2) new DataView(out.buffer).setUint32(dstSize, K.FP_XSTATE_MAGIC2, true);
  return out;
}
