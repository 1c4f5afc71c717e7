import { type BuiltFrame, buildFrame } from '../frame/build.js';
import type { SignalState } from '../frame/state.js';
import type { FrameTarget } from '../frame/target.js';

/** `sigframe build`: where the frame goes, what it holds, and the bytes the kernel leaves alone. */
export interface BuildReport {
  readonly kind: SignalState['kind'];
  readonly address: bigint;
  readonly top: bigint;
  readonly size: number;
  readonly fpstate: bigint;
  readonly buf_fx: bigint;
  readonly xstate_bv: bigint;
  readonly rfbm: bigint;
  /** Runs the kernel does not write, as [start, end) offsets from the frame start. */
  readonly unwritten: readonly (readonly [number, number])[];
}

/** Runs of 0 in a written mask, as [start, end) offsets. */
export function unwrittenRanges(mask: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < mask.length; ) {
    if (mask[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < mask.length && !mask[j]) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

export function buildReport(state: SignalState, t: FrameTarget): { report: BuildReport; frame: BuiltFrame } {
  const b = buildFrame(state, t);
  const report = {
    kind: state.kind,
    address: b.address,
    top: b.top,
    size: b.bytes.length,
    fpstate: b.placement.fpstate,
    buf_fx: b.placement.bufFx,
    xstate_bv: b.xstateBv,
    rfbm: b.rfbm,
    unwritten: unwrittenRanges(b.written),
  };
  return { report, frame: b };
}
