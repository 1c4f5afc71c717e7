import type { DataModelName } from '../../layouts/abi.js';

/**
 * ABI constants, with the uapi header that defines each (checked against the installed headers by
 * test/uapi.test.ts). Values from Linux 7.3.4; unchanged since the version noted where relevant.
 */
export const abiConstants = {
  FP_XSTATE_MAGIC1: { value: 0x46505853, header: 'asm/sigcontext.h' },
  FP_XSTATE_MAGIC2: { value: 0x46505845, header: 'asm/sigcontext.h' },
  FP_XSTATE_MAGIC2_SIZE: { value: 4, header: 'asm/sigcontext.h' },
  X86_FXSR_MAGIC: { value: 0x0000, header: 'asm/sigcontext.h' },
  UC_FP_XSTATE: { value: 0x1, header: 'asm/ucontext.h' },
  // 64-bit and x32 frames only: the header defines them under __x86_64__.
  UC_SIGCONTEXT_SS: { value: 0x2, header: 'asm/ucontext.h', models: ['lp64', 'x32'] },
  UC_STRICT_RESTORE_SS: { value: 0x4, header: 'asm/ucontext.h', models: ['lp64', 'x32'] },
  MINSIGSTKSZ: { value: 2048, header: 'asm/signal.h' },
  SIGSTKSZ: { value: 8192, header: 'asm/signal.h' },
  SA_RESTORER: { value: 0x04000000, header: 'asm/signal.h' },
  SS_ONSTACK: { value: 1, header: 'asm/signal.h' },
  SS_DISABLE: { value: 2, header: 'asm/signal.h' },
  SS_AUTODISARM: { value: 0x80000000, header: 'linux/signal.h' },
  AT_MINSIGSTKSZ: { value: 51, header: 'linux/auxvec.h' },
  ARCH_GET_XCOMP_SUPP: { value: 0x1021, header: 'asm/prctl.h' },
  ARCH_GET_XCOMP_PERM: { value: 0x1022, header: 'asm/prctl.h' },
  ARCH_REQ_XCOMP_PERM: { value: 0x1023, header: 'asm/prctl.h' },
  ARCH_GET_XCOMP_GUEST_PERM: { value: 0x1024, header: 'asm/prctl.h' },
  ARCH_REQ_XCOMP_GUEST_PERM: { value: 0x1025, header: 'asm/prctl.h' },
} as const satisfies Record<string, { value: number; header: string; models?: readonly DataModelName[] }>;
// ARCH_REQ_XCOMP_PERM takes an xfeature number (18, XTILE_DATA, for AMX); the uapi headers name
// no constant for it, so the number comes from the component table in layouts/xfeatures.ts.

type Constants = typeof abiConstants;
/** The values alone, e.g. `K.FP_XSTATE_MAGIC1`. */
export const K = Object.fromEntries(Object.entries(abiConstants).map(([k, v]) => [k, v.value])) as {
  readonly [N in keyof Constants]: Constants[N]['value'];
};
