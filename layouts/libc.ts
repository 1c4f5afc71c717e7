/**
 * C library releases at which the signal-stack answers changed: what sysconf(_SC_MINSIGSTKSZ)
 * and sysconf(_SC_SIGSTKSZ) return and what the library's sigaltstack() checks before the
 * system call. A version maps to the newest row whose `since` it reaches. The rules each row
 * names are implemented (and cited) in src/libc/sysconf.ts; each row cites the commits that
 * made it, found in the libraries' own histories (glibc: sourceware glibc.git, mirrored as
 * bminor/glibc; musl: git.musl-libc.org, mirrored as bminor/musl and kraj/musl).
 */
export type LibcName = 'glibc' | 'musl';

/** sysconf(_SC_MINSIGSTKSZ): `absent` where the name does not exist (sysconf fails, EINVAL). */
export type MinsigstkszRule =
  | 'absent'
  | 'glibc-auxv-or-cpuid'
  | 'musl-auxv-at-least-minsigstksz'
  | 'musl-frame-plus-1k';
/** sysconf(_SC_SIGSTKSZ). */
export type SigstkszRule = 'absent' | 'glibc-4x-min' | 'musl-min-plus-6k';
/** What the library's sigaltstack() refuses with ENOMEM before asking the kernel. */
export type SigaltstackCheck = 'none' | 'below-MINSIGSTKSZ' | 'below-sc-minsigstksz';

export interface LibcRelease {
  readonly libc: LibcName;
  /** First release with this behaviour; the row holds up to the next row's `since`. */
  readonly since: string;
  readonly minsigstksz: MinsigstkszRule;
  readonly sigstksz: SigstkszRule;
  readonly sigaltstack: SigaltstackCheck;
  readonly cite: string;
}

export const libcReleases = [
  {
    libc: 'glibc',
    since: '2.0',
    minsigstksz: 'absent',
    sigstksz: 'absent',
    sigaltstack: 'none',
    cite: 'no _SC_MINSIGSTKSZ in bits/confname.h up to glibc-2.33 (sysconf: EINVAL); MINSIGSTKSZ/SIGSTKSZ 2048/8192 from sysdeps/unix/sysv/linux/bits/sigstack.h; sigaltstack is a bare system call (syscalls.list)',
  },
  {
    libc: 'glibc',
    since: '2.34',
    minsigstksz: 'glibc-auxv-or-cpuid',
    sigstksz: 'glibc-4x-min',
    sigaltstack: 'none',
    cite: '6c57d320484988e87e446e2e60ce42816bf51d53 "sysconf: Add _SC_MINSIGSTKSZ/_SC_SIGSTKSZ [BZ #20305]" (glibc 2.34); unchanged through 2.43 (sysdeps/unix/sysv/linux/x86/dl-minsigstacksize.h, sysconf-sigstksz.h)',
  },
  {
    libc: 'musl',
    since: '0.7.0',
    minsigstksz: 'absent',
    sigstksz: 'absent',
    sigaltstack: 'below-MINSIGSTKSZ',
    cite: 'no _SC_MINSIGSTKSZ in include/unistd.h at v1.2.3; src/signal/sigaltstack.c refuses ss_size < MINSIGSTKSZ with ENOMEM (6871fd773dce, v0.7.0; SS_DISABLE exempt since 7829f42a2c89, v1.1.23)',
  },
  {
    libc: 'musl',
    since: '1.2.4',
    minsigstksz: 'musl-auxv-at-least-minsigstksz',
    sigstksz: 'musl-min-plus-6k',
    sigaltstack: 'below-MINSIGSTKSZ',
    cite: '25340a93375f "add sysconf keys/values for signal stack size" and 996b6154b201 "use kernel-provided AT_MINSIGSTKSZ for sysconf(_SC_[MIN]SIGSTKSZ)" (musl 1.2.4)',
  },
  {
    libc: 'musl',
    since: '1.2.6',
    minsigstksz: 'musl-frame-plus-1k',
    sigstksz: 'musl-min-plus-6k',
    sigaltstack: 'below-sc-minsigstksz',
    cite: '8c43c562694f "sysconf: fix _SC_MINSIGSTKSZ computation to match kernel interpretation" and 300a1f53907a "sigaltstack: enforce dynamic MINSIGSTKSZ limit" (musl 1.2.6)',
  },
] as const satisfies readonly LibcRelease[];
