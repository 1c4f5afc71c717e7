import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { structModel } from '../abi/index.js';
import type { KernelChoice } from '../kernel/eras.js';
import { type SystemTarget, systemTarget } from '../kernel/system.js';
import { type AmxState, type TaskFpu, taskFpu } from '../kernel/task.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import type { DataModel } from '../schema/layout.js';
import { memo } from '../schema/memo.js';

/** A system and the frame kind and task a frame belongs to, resolved once for every reader and writer. */
export interface FrameTarget extends SystemTarget {
  readonly kind: FrameKindName;
  readonly amx: AmxState;
  readonly task: TaskFpu;
  /** How the kernel lays out the frame struct (its own compiler's data model). */
  readonly model: DataModel;
}

const targetOf = memo(
  (s: SystemTarget, kind: FrameKindName, amx: AmxState): FrameTarget => {
    const fk = frameKinds[kind];
    return {
      ...s,
      kind,
      amx,
      task: taskFpu(s.k, s.kernel.era, s.config, fk.abi, amx),
      model: structModel(fk.struct, fk.abi, s.config.bits),
    };
  },
  (kind, amx) => `${kind}|${amx}`,
);

/** The target for a frame kind, CPU, kernel and AMX state; resolved once per combination. */
export function frameTarget(
  kind: FrameKindName,
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): FrameTarget {
  return targetOf(systemTarget(profile, kernel, config), kind, amx);
}
