import { XFEATURE } from './xfeatures.js';

/**
 * Kernel eras: the Linux versions at which the x86 signal-frame and XSAVE rules changed, each with
 * the constants sigframe's kernel model reads. A version maps to the newest era whose `since` it
 * reaches. Sources: arch/x86/include/asm/fpu/xstate.h (XFEATURE_MASK_*), arch/x86/kernel/fpu/
 * xstate.c; commit ids and versions as listed in ../shared/reference/kernel-signal-abi.md §6.
 */
export interface KernelEra {
  readonly id: string;
  readonly since: string;
  readonly label: string;
  /** XFEATURE_MASK_USER_SUPPORTED: user components the kernel will put in XCR0. */
  readonly userSupported: readonly number[];
  /** XFEATURE_MASK_USER_DYNAMIC: enabled in XCR0 but only usable after ARCH_REQ_XCOMP_PERM. */
  readonly userDynamic: readonly number[];
  /** fpu__init_system_xstate disables XSAVE when CPUID enumerates APX together with MPX. */
  readonly apxMpxConflict: boolean;
  /** The aux vector carries AT_MINSIGSTKSZ (= max_frame_size, arch/x86/kernel/signal.c). */
  readonly atMinsigstksz: boolean;
  /**
   * When get_sigframe() refuses a frame that would leave the alt stack: only when the interrupted
   * code already ran on it ('nested'), or also when the signal switches onto it ('entering').
   * `compat` is the ia32 frame path of a 64-bit kernel (arch/x86/ia32/ia32_signal.c before 6.2,
   * which had no check at all; the shared get_sigframe() since).
   */
  readonly overflowCheck: { readonly native: OverflowCheck; readonly compat: OverflowCheck };
  /** sigaltstack() checks sizes against the frame (sigaltstack_size_valid, CONFIG_DYNAMIC_SIGFRAME). */
  readonly sigaltstackValidation: boolean;
  /** XFEATURE_MAX: ARCH_REQ_XCOMP_PERM returns EINVAL at or above it; null before the permission API. */
  readonly xfeatureMax: number | null;
  /**
   * XSTATE_BV[PKRU] in a frame: as XSAVE found it ('xinuse', the task's PKRU then still live);
   * 'clear' in 6.12, where the kernel had already set PKRU to 0 (its init value) before XSAVE and
   * then stored the saved value without marking it; forced to 1 since 6.13 (update_pkru_in_sigframe).
   */
  readonly pkruXstateBv: 'xinuse' | 'clear' | 'set';
  readonly changes: readonly string[];
}

export type OverflowCheck = 'none' | 'nested' | 'entering';

const X = XFEATURE;
const LEGACY_USER = [X.FP, X.SSE, X.YMM, X.BNDREGS, X.BNDCSR, X.OPMASK, X.ZMM_Hi256, X.Hi16_ZMM, X.PKRU];
const WITH_AMX = [...LEGACY_USER, X.XTILE_CFG, X.XTILE_DATA];
const WITH_APX = [...WITH_AMX, X.APX];

export const kernelEras = [
  {
    id: '4.6',
    since: '4.6',
    label: '4.6–5.13',
    userSupported: LEGACY_USER,
    userDynamic: [],
    apxMpxConflict: false,
    atMinsigstksz: false,
    overflowCheck: { native: 'nested', compat: 'none' },
    sigaltstackValidation: false,
    xfeatureMax: null,
    pkruXstateBv: 'xinuse',
    changes: ['PKRU (component 9) in XFEATURE_MASK_USER_SUPPORTED; no AT_MINSIGSTKSZ on x86'],
  },
  {
    id: '5.14',
    since: '5.14',
    label: '5.14–5.15',
    userSupported: LEGACY_USER,
    userDynamic: [],
    apxMpxConflict: false,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'none' },
    sigaltstackValidation: false,
    xfeatureMax: null,
    pkruXstateBv: 'xinuse',
    changes: [
      'AT_MINSIGSTKSZ in the aux vector; sigaltstack overflow check on entering the alt stack (1c33bb050750)',
    ],
  },
  {
    id: '5.16',
    since: '5.16',
    label: '5.16–6.1',
    userSupported: WITH_AMX,
    userDynamic: [X.XTILE_DATA],
    apxMpxConflict: false,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'none' },
    sigaltstackValidation: true,
    xfeatureMax: X.XTILE_DATA + 1,
    pkruXstateBv: 'xinuse',
    changes: [
      'AMX XTILE_CFG/XTILE_DATA; XFD; ARCH_REQ_XCOMP_PERM; sigaltstack size validation; INIT skip of AMX in frames',
    ],
  },
  {
    id: '6.2',
    since: '6.2',
    label: '6.2–6.11',
    userSupported: WITH_AMX,
    userDynamic: [X.XTILE_DATA],
    apxMpxConflict: false,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'entering' },
    sigaltstackValidation: true,
    xfeatureMax: X.XTILE_DATA + 1,
    pkruXstateBv: 'xinuse',
    changes: [
      'signal code split into signal_64.c/signal_32.c; one get_sigframe() for native and compat frames',
    ],
  },
  {
    id: '6.12',
    since: '6.12',
    label: '6.12',
    userSupported: WITH_AMX,
    userDynamic: [X.XTILE_DATA],
    apxMpxConflict: false,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'entering' },
    sigaltstackValidation: true,
    xfeatureMax: X.XTILE_DATA + 1,
    pkruXstateBv: 'clear',
    changes: [
      'PKRU set to 0 while the frame is written; the saved PKRU stored into the frame (84ee6e8d195e)',
    ],
  },
  {
    id: '6.13',
    since: '6.13',
    label: '6.13–6.15',
    userSupported: WITH_AMX,
    userDynamic: [X.XTILE_DATA],
    apxMpxConflict: false,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'entering' },
    sigaltstackValidation: true,
    xfeatureMax: X.XTILE_DATA + 1,
    pkruXstateBv: 'set',
    changes: ['XSTATE_BV[PKRU] forced to 1 in every frame (ae6012d72fa6)'],
  },
  {
    id: '6.16',
    since: '6.16',
    label: '6.16 and later',
    userSupported: WITH_APX,
    userDynamic: [X.XTILE_DATA],
    apxMpxConflict: true,
    atMinsigstksz: true,
    overflowCheck: { native: 'entering', compat: 'entering' },
    sigaltstackValidation: true,
    xfeatureMax: X.APX + 1,
    pkruXstateBv: 'set',
    changes: ['APX (component 19, standard offset out of index order); APX with MPX disables XSAVE'],
  },
] as const satisfies readonly KernelEra[];

export type KernelEraId = (typeof kernelEras)[number]['id'];

/**
 * A rule that changed within release lines as well as between them (a mainline change and its
 * revert, both taken into stable branches): the versions each value held, as half-open ranges
 * [from, before). A version in no range has `otherwise`; so does an unspecified kernel, which
 * sigframe takes to be a current one.
 */
export interface VersionedRule<V extends string> {
  readonly source: string;
  readonly otherwise: V;
  readonly ranges: readonly {
    readonly value: V;
    readonly from: string;
    readonly before: string;
    readonly why: string;
  }[];
}

/**
 * check_xstate_in_sigframe() (arch/x86/kernel/fpu/signal.c): 'frame' checks magic1, the frame's
 * xstate_size against 576, the task's user_size and extended_size, and looks for MAGIC2 at
 * fpstate + xstate_size; 'task' (dc8aa31a7ac2, "Refine and simplify the magic number check
 * during signal return", v6.15-rc1) checks magic1 only and looks for MAGIC2 at fpstate + the
 * task's user_size. Reverted by 44eeff9bc467 (v7.1-rc6), backported to 6.18.35 and 7.0.12; 6.19.y
 * ended before the revert and never got it. Sources: tip-bot, stable review and release mails
 * (6.18.35-rc1 patch 098, 7.0.12 shortlog); no branch older than 6.15 took dc8aa31a7ac2.
 */
export const magicCheckRule: VersionedRule<'frame' | 'task'> = {
  source: 'arch/x86/kernel/fpu/signal.c check_xstate_in_sigframe()',
  otherwise: 'frame',
  ranges: [
    { value: 'task', from: '6.15', before: '6.18.35', why: 'dc8aa31a7ac2 (v6.15); reverted in 6.18.35' },
    { value: 'task', from: '6.19', before: '7.0', why: 'dc8aa31a7ac2; 6.19.y ended before the revert' },
    { value: 'task', from: '7.0', before: '7.0.12', why: 'dc8aa31a7ac2; reverted in 7.0.12 (44eeff9bc467)' },
  ],
};
