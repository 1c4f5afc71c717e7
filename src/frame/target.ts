import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { structModel } from '../abi/index.js';
import type { KernelChoice } from '../kernel/eras.js';
import { type AmxState, type TaskFpu, taskFpu } from '../kernel/task.js';
import { type KernelConfig, type KernelXfeatures, kernelXfeatures } from '../kernel/xstate.js';
import { requireConsistent } from '../profile/checks.js';
import type { Profile } from '../profile/profile.js';
import type { DataModel } from '../schema/layout.js';

/** The CPU, kernel and task a frame belongs to, resolved once for the builder and the decoder. */
export interface FrameTarget {
  readonly kind: FrameKindName;
  readonly profile: Profile;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  readonly k: KernelXfeatures;
  readonly amx: AmxState;
  readonly task: TaskFpu;
  /** How the kernel lays out the frame struct (its own compiler's data model). */
  readonly model: DataModel;
}

const targets = new WeakMap<Profile, Map<string, FrameTarget>>();

/** The target for a frame kind, CPU, kernel and AMX state; resolved once per combination. */
export function frameTarget(
  kind: FrameKindName,
  profile: Profile,
  kernel: KernelChoice,
  config: KernelConfig,
  amx: AmxState,
): FrameTarget {
  let perProfile = targets.get(profile);
  if (!perProfile) {
    perProfile = new Map();
    targets.set(profile, perProfile);
  }
  const key = [
    kind,
    kernel.label,
    kernel.era.id,
    config.bits,
    config.ia32Emulation,
    config.strictSasSize,
    amx,
  ].join('|');
  const hit = perProfile.get(key);
  if (hit) return hit;
  requireConsistent(profile);
  const fk = frameKinds[kind];
  const k = kernelXfeatures(profile.cpuid, profile.xsave, kernel.era, config);
  const t: FrameTarget = {
    kind,
    profile,
    kernel,
    config,
    k,
    amx,
    task: taskFpu(k, kernel.era, config, fk.abi, amx),
    model: structModel(fk.struct, fk.abi, config.bits),
  };
  perProfile.set(key, t);
  return t;
}
