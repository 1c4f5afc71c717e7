import { requireConsistent } from '../profile/checks.js';
import type { Profile } from '../profile/profile.js';
import { memo } from '../schema/memo.js';
import type { KernelChoice } from './eras.js';
import { type KernelConfig, type KernelXfeatures, kernelXfeatures } from './xstate.js';

/**
 * A system: a CPU (profile), a kernel version and its configuration, and what that kernel
 * enables on that CPU — resolved once, after the profile's CPUID has passed the consistency
 * gate. Everything that reasons about one machine starts here; a frame target adds the frame
 * kind and the task (src/frame/target.ts).
 */
export interface SystemTarget {
  readonly profile: Profile;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  readonly k: KernelXfeatures;
}

const configKey = (c: KernelConfig) => `${c.bits}|${c.ia32Emulation !== false}|${c.strictSasSize === true}`;

/** fpu__init_system_xstate()'s outcome depends on the era and configuration, not the version label. */
const enabledFeatures = memo(
  (profile: Profile, era: KernelChoice['era'], config: KernelConfig): KernelXfeatures => {
    requireConsistent(profile);
    return kernelXfeatures(profile.cpuid, profile.xsave, era, config);
  },
  (era, config) => `${era.id}|${configKey(config)}`,
);

export const systemTarget: (profile: Profile, kernel: KernelChoice, config: KernelConfig) => SystemTarget =
  memo(
    (profile: Profile, kernel: KernelChoice, config: KernelConfig): SystemTarget => ({
      profile,
      kernel,
      config,
      k: enabledFeatures(profile, kernel.era, config),
    }),
    (kernel, config) => `${kernel.label}|${kernel.era.id}|${configKey(config)}`,
  );
