import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64, xstate_header } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { type BuiltFrame, buildFrame } from '../frame/build.js';
import type { SignalState } from '../frame/state.js';
import { frameTarget } from '../frame/target.js';
import type { KernelChoice } from '../kernel/eras.js';
import { systemTarget } from '../kernel/system.js';
import { type AmxState, INIT_PKRU_VALUE, possibleAmxStates } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { encodeInto } from '../schema/encode.js';
import { InputError, SigframeError } from '../schema/errors.js';
import { decode } from '../schema/parse.js';
import {
  bitsOf,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_SIZE,
  has,
  XSAVE_HDR_SIZE,
  xfeatureName,
} from '../xsave/catalog.js';
import { xstateSize } from '../xsave/layout.js';

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

/**
 * Relocates a standard-format XSAVE image from one CPU's layout to another's: the legacy region
 * and header as they are, every component XSTATE_BV marks in use moved to its destination
 * offset. The result is sized for the destination kernel's XCR0.
 */
export function convertImage(
  image: Uint8Array,
  from: Profile,
  to: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
): Uint8Array {
  if (image.length < FXSAVE_SIZE + XSAVE_HDR_SIZE) {
    throw new InputError(
      `an XSAVE image is at least ${FXSAVE_SIZE + XSAVE_HDR_SIZE} bytes; this one has ${image.length}`,
      {
        offset: image.length,
      },
    );
  }
  const kb = systemTarget(to, kernel, config).k;
  const hdr = decode(xstate_header, dataModels.lp64, image, FXSAVE_SIZE);
  const inUse = hdr.xfeatures;
  const missing = inUse & ~kb.xcr0;
  if (missing !== 0n)
    throw new ConvertRefused(`${to.name} has no ${names(missing)}, which the image has in use`);
  const out = new Uint8Array(xstateSize(to.xsave, kb.xcr0, 'standard'));
  encodeInto(fpstate_64, dataModels.lp64, decode(fpstate_64, dataModels.lp64, image, 0), out, 0);
  encodeInto(xstate_header, dataModels.lp64, { ...hdr, reserved1: [0n, 0n] }, out, FXSAVE_SIZE);
  for (const nr of bitsOf(inUse).filter((n) => n >= FIRST_EXTENDED_XFEATURE)) {
    const src = from.xsave.components.get(nr);
    const dst = to.xsave.components.get(nr)!;
    if (!src)
      throw new InputError(`XSTATE_BV bit ${nr} (${xfeatureName(nr)}) is not a component of ${from.name}`, {
        offset: FXSAVE_SIZE,
      });
    if (src.offset + src.size > image.length) {
      throw new InputError(
        `${xfeatureName(nr)} at ${src.offset}..${src.offset + src.size} lies past the image's ${image.length} bytes`,
        {
          offset: image.length,
        },
      );
    }
    out.set(image.subarray(src.offset, src.offset + Math.min(src.size, dst.size)), dst.offset);
  }
  return out;
}
