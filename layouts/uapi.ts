import { array, bytes, i32, pad, ptr, struct, u16, u32, u64, ulong } from '../src/schema/node.js';

/**
 * The user-visible signal-context structs of arch/x86/include/uapi/asm/sigcontext.h, signal.h and
 * ucontext.h (checked against Linux 7.3.4 and the linux-libc-dev headers on the build host by
 * test/uapi.test.ts). Member names are the header's, so offsetof() in C and locate() here agree.
 *
 * Register files declared as `__u32 x[n]` in the header are modelled as n registers of 16 bytes:
 * same bytes, but a decoded value shows registers, not words.
 */

const ALL_MODELS = ['lp64', 'ilp32', 'x32'] as const;
const sigcontextH = (ctype: string) => ({ header: 'asm/sigcontext.h', ctype, models: ALL_MODELS });

/** The software-reserved bytes 464..511 of the FXSAVE image: describe the extended state that follows. */
export const fpx_sw_bytes = struct(
  '_fpx_sw_bytes',
  {
    magic1: u32,
    extended_size: u32,
    xfeatures: u64,
    xstate_size: u32,
    padding: array(u32, 7),
  },
  {
    abis: ['x86_64', 'x32', 'ia32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct _fpx_sw_bytes'),
  },
);

/** The 512-byte FXSAVE image as the 64-bit kernel writes it; XSAVE's legacy region (x87 + SSE). */
export const fpstate_64 = struct(
  '_fpstate_64',
  {
    cwd: u16,
    swd: u16,
    twd: u16,
    fop: u16,
    rip: u64,
    rdp: u64,
    mxcsr: u32,
    mxcsr_mask: u32,
    st_space: array(bytes(16, 4), 8),
    xmm_space: array(bytes(16, 4), 16),
    reserved2: bytes(48, 4),
    sw_reserved: fpx_sw_bytes,
  },
  {
    abis: ['x86_64', 'x32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct _fpstate_64'),
    note: 'sw_reserved is the union member overlaying reserved3[12]; st_space/xmm_space are __u32[32]/__u32[64] in C',
  },
);

/**
 * The 32-bit frame's FP state: the 112-byte FSAVE-format header (struct fregs_state) followed by
 * the FXSAVE image. Contains a __u64 (in sw_reserved), so it is 8-aligned when the 64-bit kernel
 * compiles it and 4-aligned under i386 — same 624 bytes either way.
 */
export const fpstate_32 = struct(
  '_fpstate_32',
  {
    cw: u32,
    sw: u32,
    tag: u32,
    ipoff: u32,
    cssel: u32,
    dataoff: u32,
    datasel: u32,
    _st: array(bytes(10, 2), 8),
    status: u16,
    magic: u16,
    _fxsr_env: array(u32, 6),
    mxcsr: u32,
    reserved: u32,
    _fxsr_st: array(bytes(16, 2), 8),
    _xmm: array(bytes(16, 4), 8),
    padding1: bytes(176, 4),
    sw_reserved: fpx_sw_bytes,
  },
  {
    abis: ['ia32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct _fpstate_32'),
    note: '_st/_fxsr_st/_xmm are struct _fpreg/_fpxreg/_xmmreg arrays in C; padding1 aliases padding[44]; sw_reserved overlays padding2[12]',
  },
);

/** XSAVE header (bytes 512..575): xfeatures is XSTATE_BV, reserved1[0] is XCOMP_BV. */
export const xstate_header = struct(
  '_header',
  {
    xfeatures: u64,
    reserved1: array(u64, 2),
    reserved2: array(u64, 5),
  },
  {
    abis: ['x86_64', 'x32', 'ia32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct _header'),
  },
);

export const ymmh_state = struct(
  '_ymmh_state',
  { ymmh_space: array(bytes(16, 4), 16) },
  {
    abis: ['x86_64', 'x32', 'ia32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct _ymmh_state'),
  },
);

export const sigcontext_32 = struct(
  'sigcontext_32',
  {
    gs: u16,
    __gsh: u16,
    fs: u16,
    __fsh: u16,
    es: u16,
    __esh: u16,
    ds: u16,
    __dsh: u16,
    di: u32,
    si: u32,
    bp: u32,
    sp: u32,
    bx: u32,
    dx: u32,
    cx: u32,
    ax: u32,
    trapno: u32,
    err: u32,
    ip: u32,
    cs: u16,
    __csh: u16,
    flags: u32,
    sp_at_signal: u32,
    ss: u16,
    __ssh: u16,
    fpstate: u32,
    oldmask: u32,
    cr2: u32,
  },
  {
    abis: ['ia32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct sigcontext_32'),
  },
);

export const sigcontext_64 = struct(
  'sigcontext_64',
  {
    r8: u64,
    r9: u64,
    r10: u64,
    r11: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    di: u64,
    si: u64,
    bp: u64,
    bx: u64,
    dx: u64,
    ax: u64,
    cx: u64,
    sp: u64,
    ip: u64,
    flags: u64,
    cs: u16,
    gs: u16,
    fs: u16,
    ss: u16,
    err: u64,
    trapno: u64,
    oldmask: u64,
    cr2: u64,
    fpstate: u64,
    reserved1: array(u64, 8),
  },
  {
    abis: ['x86_64', 'x32'],
    source: 'arch/x86/include/uapi/asm/sigcontext.h (Linux 7.3.4)',
    uapi: sigcontextH('struct sigcontext_64'),
    note: 'ss is the union member aliasing __pad0; it holds SS only when uc_flags has UC_SIGCONTEXT_SS',
  },
);

/** sigaltstack's argument and ucontext's uc_stack; pointer and size_t follow the data model. */
export const stack_t = struct(
  'stack_t',
  { ss_sp: ptr, ss_flags: i32, ss_size: ulong },
  {
    abis: ['x86_64', 'x32', 'ia32'],
    source: 'arch/x86/include/uapi/asm/signal.h (Linux 7.3.4)',
    uapi: { header: 'asm/signal.h', ctype: 'stack_t', models: ALL_MODELS },
  },
);

/** The 32-bit stack_t as the 64-bit kernel writes it into ia32 and x32 frames. */
export const compat_stack_t = struct(
  'compat_stack_t',
  { ss_sp: u32, ss_flags: i32, ss_size: u32 },
  {
    abis: ['ia32', 'x32'],
    kernelInternal: true,
    source: 'include/linux/compat.h (Linux 7.3.4)',
    uapi: { header: 'asm/signal.h', ctype: 'stack_t', models: ['ilp32', 'x32'] },
  },
);

/**
 * The kernel's 64-bit ucontext (include/uapi/asm-generic/ucontext.h, 304 bytes) — not glibc's
 * 968-byte ucontext_t.
 */
export const ucontext = struct(
  'ucontext',
  {
    uc_flags: ulong,
    uc_link: ptr,
    uc_stack: stack_t,
    uc_mcontext: sigcontext_64,
    uc_sigmask: u64,
  },
  {
    abis: ['x86_64'],
    source: 'include/uapi/asm-generic/ucontext.h (Linux 7.3.4)',
    uapi: { header: 'asm/ucontext.h', ctype: 'struct ucontext', models: ['lp64'] },
  },
);

/** struct ucontext_ia32 (arch/x86/include/asm/ia32.h): written into ia32 rt frames. */
export const ucontext_ia32 = struct(
  'ucontext_ia32',
  {
    uc_flags: u32,
    uc_link: u32,
    uc_stack: compat_stack_t,
    uc_mcontext: sigcontext_32,
    uc_sigmask: array(u32, 2),
  },
  {
    abis: ['ia32'],
    kernelInternal: true,
    source: 'arch/x86/include/asm/ia32.h (Linux 7.3.4)',
    uapi: {
      header: 'asm/ucontext.h',
      ctype: 'struct ucontext',
      models: ['ilp32'],
      except: ['uc_sigmask'],
      why: 'the kernel writes a 64-bit compat_sigset_t; the i386 uapi sigset_t is one 32-bit word',
    },
  },
);

/** struct ucontext_x32 (arch/x86/include/asm/sigframe.h): 64-bit sigcontext behind 32-bit pointers. */
export const ucontext_x32 = struct(
  'ucontext_x32',
  {
    uc_flags: u32,
    uc_link: u32,
    uc_stack: compat_stack_t,
    uc__pad0: pad(4),
    uc_mcontext: sigcontext_64,
    uc_sigmask: array(u32, 2),
  },
  {
    abis: ['x32'],
    kernelInternal: true,
    source: 'arch/x86/include/asm/sigframe.h (Linux 7.3.4)',
    uapi: {
      header: 'asm/ucontext.h',
      ctype: 'struct ucontext',
      models: ['x32'],
      except: ['uc_sigmask'],
      why: 'the kernel writes a 64-bit compat_sigset_t; the x32 uapi sigset_t is one 32-bit word',
    },
  },
);

/** Every struct in this file, by C name: what `sigframe layout --struct` lists. */
export const uapiStructs = [
  fpx_sw_bytes,
  fpstate_64,
  fpstate_32,
  xstate_header,
  ymmh_state,
  sigcontext_32,
  sigcontext_64,
  stack_t,
  compat_stack_t,
  ucontext,
  ucontext_ia32,
  ucontext_x32,
] as const;
