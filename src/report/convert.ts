import { ConvertRefused, convertImage, convertState } from '../compat/convert.js';
import type { BuiltFrame } from '../frame/build.js';
import type { SignalState } from '../frame/state.js';
import { chooseKernel } from '../kernel/eras.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';

export { ConvertRefused };

/** `sigframe convert`: a state moved to another CPU and built there, with what changed on the way. */
export interface ConvertReport {
  readonly from: string;
  readonly to: string;
  readonly address: bigint;
  readonly top: bigint;
  readonly size: number;
  readonly xstate_bv: bigint;
  readonly notes: readonly string[];
  readonly state: SignalState;
}

/** The state on `to`, for the kernel given (default: the one the state names). */
export function convertFrame(
  state: SignalState,
  to: Profile,
  toRef: string,
  kernel: string | undefined,
  config: KernelConfig,
): { report: ConvertReport; frame: BuiltFrame } {
  const r = convertState(state, to, toRef, chooseKernel(kernel ?? state.kernel), config);
  return {
    report: {
      from: state.profile,
      to: toRef,
      address: r.frame.address,
      top: r.frame.top,
      size: r.frame.bytes.length,
      xstate_bv: r.frame.xstateBv,
      notes: r.notes,
      state: r.state,
    },
    frame: r.frame,
  };
}

/** An XSAVE image saved on `from`, as `to` lays it out. */
export function convertXsaveImage(
  image: Uint8Array,
  from: Profile,
  to: Profile,
  kernel: string | undefined,
  config: KernelConfig,
): Uint8Array {
  return convertImage(image, from, to, chooseKernel(kernel), config);
}
