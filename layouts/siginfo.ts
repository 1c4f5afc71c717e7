import { type IntNode, i32, i64, ptr, struct, type UapiSpelling, u32, ulong } from '../src/schema/node.js';

/**
 * What `_sifields` holds, per signal and si_code: one struct per alternative of the union in
 * include/uapi/asm-generic/siginfo.h and, for the ia32/x32 compat layout, include/linux/compat.h
 * (compat_siginfo_t). Checked against Linux 6.18 (kernel/signal.c siginfo_layout(),
 * copy_siginfo_to_external32(); arch/x86/kernel/signal_64.c x32_copy_siginfo_to_user()) and the
 * installed linux-libc-dev 6.1 uapi headers (test/uapi.test.ts compiles every offset below).
 *
 * Each struct starts where `_sifields` starts (offset 16 in the 64-bit siginfo, 12 in
 * compat_siginfo) and is laid out per data model: LP64 for x86-64 programs, ILP32 for everything
 * the kernel writes as compat_siginfo_t (ia32 and x32 frames — compat_uptr_t, compat_long_t and
 * compat_clock_t are 32 bits, compat_s64 is 4-aligned). Member names are the header's access
 * macros (si_pid is _sifields._kill._pid), so offsetof(siginfo_t, si_pid) is valid C.
 *
 * The fault union is split by layout (SIL_FAULT, SIL_FAULT_MCEERR, …) so that no two members of a
 * struct overlap: a decoded value shows what the kernel wrote for that si_code, not every view of
 * the same bytes. si_trapno is not among them: on x86 siginfo_layout() never gives
 * SIL_FAULT_TRAPNO (only SPARC's ILL_ILLTRP and Alpha's SIGFPE / TRAP_UNK do), so the kernel never
 * writes it and a decoder must not show it.
 */
const source = 'include/uapi/asm-generic/siginfo.h, include/linux/compat.h (Linux 6.18)';

/** `short`: si_addr_lsb. */
const i16: IntNode<number> = { kind: 'int', ctype: 'short', width: 2, signed: true };
/** `long` (si_band, and clock_t = __kernel_long_t): 8 bytes on LP64, 4 on ILP32; a bigint. */
const slong: IntNode<bigint> = { kind: 'int', ctype: 'long', width: 'long', signed: true };
/**
 * sigval_t, the union { int sival_int; void *sival_ptr; }: pointer-sized. Kept as the pointer
 * (a bigint); sival_int is its low 32 bits. compat_sigval_t is 4 bytes, as the ILP32 layout gives.
 */
const sigval = { ...ptr, ctype: 'sigval_t' } as IntNode<bigint>;
/**
 * `char _dummy_bnd[__ADDR_BND_PKEY_PAD]`: __ADDR_BND_PKEY_PAD is max(alignof(void *), sizeof(short)),
 * i.e. pointer-sized on x86 under either model. A pad node has one length for every model, so the
 * placeholder is a pointer-sized member whose name starts with `_`: decodeSiginfo() leaves such
 * members out of its value and encodeSiginfo() writes them as zero; the uapi check skips them
 * (the header gives them no access macro) and checks the members after them.
 */
const dummy = { ...ptr, ctype: 'char[__ADDR_BND_PKEY_PAD]' } as IntNode<bigint>;

const ALL = ['lp64', 'ilp32', 'x32'] as const;
const spelling = (models: readonly string[], why?: string): UapiSpelling => ({
  header: 'asm/siginfo.h',
  ctype: 'siginfo_t',
  base: '_sifields',
  view: true,
  models,
  ...(why ? { why } : {}),
});
const doc = (note: string, models: readonly string[] = ALL, extra: object = {}) => ({
  source,
  uapi: spelling(models),
  note,
  ...extra,
});

/** SIL_KILL: kill(), tgkill(), raise(), and every si_code without a layout of its own. */
export const siginfo_kill = struct(
  'siginfo_kill',
  { si_pid: i32, si_uid: u32 },
  doc('_sifields._kill: the sender (SI_USER, SI_TKILL, SI_KERNEL, SI_DETHREAD, …)'),
);

/**
 * SIL_TIMER (si_code SI_TIMER): POSIX timers. The uapi struct goes on with `_sys_private` ("not
 * to be passed to user"; absent from compat_siginfo_t), which the kernel does not report.
 */
export const siginfo_timer = struct(
  'siginfo_timer',
  { si_tid: i32, si_overrun: i32, si_value: sigval },
  doc('_sifields._timer; si_value is sigval_t (si_int / si_ptr are its views)'),
);

/** SIL_RT: sigqueue() and every other negative si_code but SI_TIMER and SI_SIGIO. */
export const siginfo_rt = struct(
  'siginfo_rt',
  { si_pid: i32, si_uid: u32, si_value: sigval },
  doc('_sifields._rt; si_value is sigval_t (si_int / si_ptr are its views)'),
);

/**
 * SIL_CHLD: SIGCHLD with a CLD_* code. si_utime and si_stime are clock_t (__kernel_long_t): 8
 * bytes at 16 and 24 on x86-64, 4 bytes at 12 and 16 in compat_siginfo_t for ia32.
 */
export const siginfo_chld = struct(
  'siginfo_chld',
  { si_pid: i32, si_uid: u32, si_status: i32, si_utime: slong, si_stime: slong },
  doc('_sifields._sigchld', ['lp64', 'ilp32'], { abis: ['x86_64', 'ia32'] }),
);

/**
 * compat_siginfo_t's `_sigchld_x32` (include/linux/compat.h): what x32 programs get for SIGCHLD —
 * x32_copy_siginfo_to_user() (arch/x86/kernel/signal_64.c) overwrites the compat clock_t pair with
 * 64-bit times whenever si_signo is SIGCHLD. compat_s64 is 4-aligned, so si_utime sits at 12 and
 * si_stime at 20; x32's uapi header agrees (__kernel_si_clock_t: long long, aligned(4)).
 *
 * Only the ILP32 data model lays this out right (4-aligned 64-bit members): decodeSiginfo() uses
 * it under ILP32, and test/siginfo.test.ts compiles that layout against the x32 header (cc
 * -mx32). It is therefore not in `siginfoStructs` (nor in the uapi program, which lays each struct
 * out under the model it compiles for).
 */
export const siginfo_chld_x32 = struct(
  'siginfo_chld_x32',
  { si_pid: i32, si_uid: u32, si_status: i32, si_utime: i64, si_stime: i64 },
  {
    source,
    uapi: spelling(
      ['x32'],
      'lay out under ilp32: compat_s64 is a 4-aligned __s64, as x32 __kernel_si_clock_t is',
    ),
    note: 'compat _sigchld_x32; laid out under ILP32 only (compat_s64 is 4-aligned)',
    abis: ['x32'],
    kernelInternal: true,
  },
);

/** SIL_FAULT: SIGILL, SIGFPE, SIGSEGV, SIGBUS, SIGTRAP with a code of their own (no extra member). */
export const siginfo_fault = struct(
  'siginfo_fault',
  { si_addr: ptr },
  doc('_sifields._sigfault: the faulting instruction or data address'),
);

/** SIL_FAULT_MCEERR: SIGBUS BUS_MCEERR_AR / BUS_MCEERR_AO — the valid low bits of the address. */
export const siginfo_fault_mceerr = struct(
  'siginfo_fault_mceerr',
  { si_addr: ptr, si_addr_lsb: i16 },
  doc('_sifields._sigfault with _addr_lsb'),
);

/** SIL_FAULT_BNDERR: SIGSEGV SEGV_BNDERR (MPX) — the violated bounds. */
export const siginfo_fault_bnderr = struct(
  'siginfo_fault_bnderr',
  { si_addr: ptr, _dummy_bnd: dummy, si_lower: ptr, si_upper: ptr },
  doc('_sifields._sigfault._addr_bnd; _dummy_bnd stands for char[__ADDR_BND_PKEY_PAD]'),
);

/** SIL_FAULT_PKUERR: SIGSEGV SEGV_PKUERR — the protection key that denied the access. */
export const siginfo_fault_pkuerr = struct(
  'siginfo_fault_pkuerr',
  { si_addr: ptr, _dummy_pkey: dummy, si_pkey: u32 },
  doc('_sifields._sigfault._addr_pkey; _dummy_pkey stands for char[__ADDR_BND_PKEY_PAD]'),
);

/** SIL_FAULT_PERF_EVENT: SIGTRAP TRAP_PERF — a perf event with sigtrap=1. */
export const siginfo_fault_perf = struct(
  'siginfo_fault_perf',
  { si_addr: ptr, si_perf_data: ulong, si_perf_type: u32, si_perf_flags: u32 },
  doc('_sifields._sigfault._perf (compat: compat_ulong_t _data)'),
);

/** SIL_POLL: SIGPOLL (SIGIO) POLL_* codes, SI_SIGIO, and small positive codes of other signals. */
export const siginfo_poll = struct(
  'siginfo_poll',
  { si_band: slong, si_fd: i32 },
  doc('_sifields._sigpoll; si_band is long (compat_long_t)'),
);

/** SIL_SYS: SIGSYS SYS_SECCOMP / SYS_USER_DISPATCH — the system call that was refused. */
export const siginfo_sys = struct(
  'siginfo_sys',
  { si_call_addr: ptr, si_syscall: i32, si_arch: u32 },
  doc('_sifields._sigsys; si_arch is an AUDIT_ARCH_* value'),
);

/**
 * The layouts of enum siginfo_layout (include/linux/signal.h) that x86 uses, by short name, with
 * the struct each writes. `x32` is the struct x32 frames carry instead.
 */
export const siginfoLayouts = {
  kill: { sil: 'SIL_KILL', fields: siginfo_kill },
  timer: { sil: 'SIL_TIMER', fields: siginfo_timer },
  rt: { sil: 'SIL_RT', fields: siginfo_rt },
  chld: { sil: 'SIL_CHLD', fields: siginfo_chld, x32: siginfo_chld_x32 },
  fault: { sil: 'SIL_FAULT', fields: siginfo_fault },
  fault_mceerr: { sil: 'SIL_FAULT_MCEERR', fields: siginfo_fault_mceerr },
  fault_bnderr: { sil: 'SIL_FAULT_BNDERR', fields: siginfo_fault_bnderr },
  fault_pkuerr: { sil: 'SIL_FAULT_PKUERR', fields: siginfo_fault_pkuerr },
  fault_perf: { sil: 'SIL_FAULT_PERF_EVENT', fields: siginfo_fault_perf },
  poll: { sil: 'SIL_POLL', fields: siginfo_poll },
  sys: { sil: 'SIL_SYS', fields: siginfo_sys },
} as const;

export type SiginfoLayoutName = keyof typeof siginfoLayouts;

/** The alternatives every data model lays out right: what `sigframe layout` and the uapi check list. */
export const siginfoStructs = [
  siginfo_kill,
  siginfo_timer,
  siginfo_rt,
  siginfo_chld,
  siginfo_fault,
  siginfo_fault_mceerr,
  siginfo_fault_bnderr,
  siginfo_fault_pkuerr,
  siginfo_fault_perf,
  siginfo_poll,
  siginfo_sys,
] as const;

/** Signal numbers 1..31 on x86 (arch/x86/include/uapi/asm/signal.h). SIGPOLL is SIGIO. */
export const signalNumbers = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

export type SignalName = keyof typeof signalNumbers;

/** Other spellings the header defines for the same numbers. */
export const signalAliases = { SIGPOLL: 'SIGIO', SIGIOT: 'SIGABRT' } as const satisfies Record<
  string,
  SignalName
>;

/**
 * si_code values any signal can carry (include/uapi/asm-generic/siginfo.h): 0 and below come
 * from user space (SI_FROMUSER), SI_KERNEL from the kernel.
 */
export const genericSiCodes = {
  SI_USER: 0,
  SI_KERNEL: 0x80,
  SI_QUEUE: -1,
  SI_TIMER: -2,
  SI_MESGQ: -3,
  SI_ASYNCIO: -4,
  SI_SIGIO: -5,
  SI_TKILL: -6,
  SI_DETHREAD: -7,
  SI_ASYNCNL: -60,
} as const;

/**
 * Signal-specific si_codes (1 .. N, include/uapi/asm-generic/siginfo.h, Linux 6.18). Code 4 of
 * SIGSEGV is SEGV_PKUERR (__SEGV_PSTKOVF on ia64 only); the __-prefixed codes are other
 * architectures' but count towards the NSIG* limits. SEGV_CPERR (shadow stack, Linux 6.6) is
 * missing from older installed headers. POLL_* also name the codes 1..6 of signals without codes
 * of their own ("SIGPOLL (or any other signal without signal specific si_codes) si_codes").
 */
export const signalSiCodes = {
  SIGILL: {
    ILL_ILLOPC: 1,
    ILL_ILLOPN: 2,
    ILL_ILLADR: 3,
    ILL_ILLTRP: 4,
    ILL_PRVOPC: 5,
    ILL_PRVREG: 6,
    ILL_COPROC: 7,
    ILL_BADSTK: 8,
    ILL_BADIADDR: 9,
    __ILL_BREAK: 10,
    __ILL_BNDMOD: 11,
  },
  SIGFPE: {
    FPE_INTDIV: 1,
    FPE_INTOVF: 2,
    FPE_FLTDIV: 3,
    FPE_FLTOVF: 4,
    FPE_FLTUND: 5,
    FPE_FLTRES: 6,
    FPE_FLTINV: 7,
    FPE_FLTSUB: 8,
    __FPE_DECOVF: 9,
    __FPE_DECDIV: 10,
    __FPE_DECERR: 11,
    __FPE_INVASC: 12,
    __FPE_INVDEC: 13,
    FPE_FLTUNK: 14,
    FPE_CONDTRAP: 15,
  },
  SIGSEGV: {
    SEGV_MAPERR: 1,
    SEGV_ACCERR: 2,
    SEGV_BNDERR: 3,
    SEGV_PKUERR: 4,
    SEGV_ACCADI: 5,
    SEGV_ADIDERR: 6,
    SEGV_ADIPERR: 7,
    SEGV_MTEAERR: 8,
    SEGV_MTESERR: 9,
    SEGV_CPERR: 10,
  },
  SIGBUS: { BUS_ADRALN: 1, BUS_ADRERR: 2, BUS_OBJERR: 3, BUS_MCEERR_AR: 4, BUS_MCEERR_AO: 5 },
  SIGTRAP: { TRAP_BRKPT: 1, TRAP_TRACE: 2, TRAP_BRANCH: 3, TRAP_HWBKPT: 4, TRAP_UNK: 5, TRAP_PERF: 6 },
  SIGCHLD: {
    CLD_EXITED: 1,
    CLD_KILLED: 2,
    CLD_DUMPED: 3,
    CLD_TRAPPED: 4,
    CLD_STOPPED: 5,
    CLD_CONTINUED: 6,
  },
  SIGIO: { POLL_IN: 1, POLL_OUT: 2, POLL_MSG: 3, POLL_ERR: 4, POLL_PRI: 5, POLL_HUP: 6 },
  SIGSYS: { SYS_SECCOMP: 1, SYS_USER_DISPATCH: 2 },
} as const;

type CodeTables = typeof signalSiCodes;
export type SiCodeName =
  | keyof typeof genericSiCodes
  | { [S in keyof CodeTables]: keyof CodeTables[S] }[keyof CodeTables];

/** The NSIG* limits: the highest si_code each signal defines (include/uapi/asm-generic/siginfo.h). */
export const nsigLimits = {
  NSIGILL: 11,
  NSIGFPE: 15,
  NSIGSEGV: 10,
  NSIGBUS: 5,
  NSIGTRAP: 6,
  NSIGCHLD: 6,
  NSIGPOLL: 6,
  NSIGSYS: 2,
} as const;

/**
 * kernel/signal.c's sig_sicodes[] (Linux 6.18): for the signals with codes of their own, the
 * highest code and the layout those codes use (x86 has no SIGEMT). Indexed by signal number in C;
 * `sig < ARRAY_SIZE(sig_sicodes)` holds for every x86 signal up to SIGSYS (31).
 */
export const sigSicodes = {
  SIGILL: { limit: nsigLimits.NSIGILL, layout: 'fault' },
  SIGFPE: { limit: nsigLimits.NSIGFPE, layout: 'fault' },
  SIGSEGV: { limit: nsigLimits.NSIGSEGV, layout: 'fault' },
  SIGBUS: { limit: nsigLimits.NSIGBUS, layout: 'fault' },
  SIGTRAP: { limit: nsigLimits.NSIGTRAP, layout: 'fault' },
  SIGCHLD: { limit: nsigLimits.NSIGCHLD, layout: 'chld' },
  SIGIO: { limit: nsigLimits.NSIGPOLL, layout: 'poll' },
  SIGSYS: { limit: nsigLimits.NSIGSYS, layout: 'sys' },
} as const satisfies Partial<Record<SignalName, { limit: number; layout: SiginfoLayoutName }>>;
