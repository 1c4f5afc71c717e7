import type { AbiName } from '../../layouts/abi.js';
import type { KernelEra } from '../../layouts/kernels.js';
import { InputError } from '../schema/errors.js';
import { maskOf } from '../xsave/catalog.js';
import type { KernelConfig, KernelXfeatures } from './xstate.js';

/**
 * A task's AMX state, the design mail's three cases (../shared/seed/):
 *  - none: the process has no permission (ARCH_REQ_XCOMP_PERM never called, or reset by exec);
 *  - permitted: the process holds permission; this thread has not executed a tile instruction;
 *  - used: this thread executed one, took the XFD #NM and got a larger fpstate.
 */
export const amxStates = ['none', 'permitted', 'used'] as const;
export type AmxState = (typeof amxStates)[number];

/** The parts of a task's fpstate and its process's permission that size its signal frames. */
export interface TaskFpu {
  readonly amx: AmxState;
  /** fpstate->user_size: the XSAVE image this thread's frames carry. */
  readonly userSize: number;
  /** fpstate->user_xfeatures: XSAVE's RFBM for its frames and sw_reserved.xfeatures. */
  readonly userXfeatures: bigint;
  /** group_leader->thread.fpu.perm.__user_state_size: what sigaltstack() checks against. */
  readonly permUserSize: number;
  /** perm.__state_perm & XFEATURE_MASK_USER_DYNAMIC: sigaltstack() enforces its size check. */
  readonly permDynamic: boolean;
}

/**
 * The dynamic (XFD-managed) user features the kernel enabled; non-zero is what
 * fpu_state_size_dynamic() reports (arch/x86/kernel/fpu/xstate.c, Linux 7.3.4).
 */
export function dynamicXfeatures(k: KernelXfeatures, era: KernelEra): bigint {
  return k.xcr0 & maskOf(era.userDynamic);
}

/** Why `amx` cannot happen on this kernel, CPU and ABI, or undefined when it can. */
export function amxImpossible(
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
  abi: AbiName,
  amx: AmxState,
): string | undefined {
  if (amx === 'none') return undefined;
  if (dynamicXfeatures(k, era) === 0n) {
    if (era.xfeatureMax === null) return `Linux ${era.label} has no AMX support (added in 5.16)`;
    if (config.bits === 32)
      return 'i386 kernels never enable AMX (XFEATURE_MASK_XTILE is 0 on CONFIG_X86_32)';
    return 'the kernel enables no dynamic feature on this CPU (no AMX with XFD): ARCH_REQ_XCOMP_PERM returns EOPNOTSUPP';
  }
  if (amx === 'used' && abi === 'ia32') {
    return 'AMX instructions exist only in 64-bit mode, so an ia32 thread can hold permission but never use tiles';
  }
  return undefined;
}

/**
 * The task's fpstate sizes in each AMX state. fpstate_reset() gives every task default_size and
 * default_features; xstate_request_perm() raises the process's perm.__user_state_size to the
 * standard size of the permitted set; the XFD #NM on first tile use (xfd_enable_feature(),
 * fpstate_realloc()) gives this thread user_size = perm.__user_state_size and adds TILEDATA to
 * its user_xfeatures. Source: arch/x86/kernel/fpu/xstate.c, core.c (Linux 7.3.4).
 */
export function taskFpu(
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
  abi: AbiName,
  amx: AmxState,
): TaskFpu {
  const why = amxImpossible(k, era, config, abi, amx);
  if (why) throw new InputError(`AMX state '${amx}' is impossible here: ${why}`, { path: 'amx' });
  const dynamic = dynamicXfeatures(k, era);
  const permitted = amx !== 'none';
  return {
    amx,
    userSize: amx === 'used' ? k.maxSize : k.defaultSize,
    userXfeatures: amx === 'used' ? k.userDefault | dynamic : k.userDefault,
    permUserSize: permitted ? k.maxSize : k.defaultSize,
    permDynamic: permitted,
  };
}

/** The AMX states possible for a task of `abi`, in the order a thread goes through them. */
export function possibleAmxStates(
  k: KernelXfeatures,
  era: KernelEra,
  config: KernelConfig,
  abi: AbiName,
): AmxState[] {
  return amxStates.filter((s) => amxImpossible(k, era, config, abi, s) === undefined);
}

/** init_pkru_value: the PKRU new tasks get — key 0 accessible, keys 1–15 denied (arch/x86/mm/pkeys.c). */
export const INIT_PKRU_VALUE = 0x55555554;
