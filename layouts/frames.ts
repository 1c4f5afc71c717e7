import { array, bytes, i32, pad, ptr, struct, u16, u32, u64 } from '../src/schema/node.js';
import { fpstate_32, sigcontext_32, ucontext, ucontext_ia32, ucontext_x32 } from './uapi.js';

/**
 * The structs the kernel pushes for a signal (arch/x86/include/asm/sigframe.h, asm/fpu/types.h,
 * include/uapi/asm-generic/siginfo.h; Linux 7.3.4). Frame structs are laid out by the kernel's
 * compiler, so `sigframe_ia32` — which embeds the 8-aligned `_fpstate_32` — is 736 bytes on x86-64
 * kernels and 732 on i386 kernels. The FP/XSAVE state is not part of any of them: it is placed
 * above the struct ("fp state follows here").
 */
const sigframeH = 'arch/x86/include/asm/sigframe.h (Linux 7.3.4)';

/**
 * The 64-bit siginfo (128 bytes). `_sifields` is a union whose alternatives (kill, fault, timer,
 * …) are read by the frame decoder; here it stays bytes.
 */
export const siginfo = struct(
  'siginfo',
  { si_signo: i32, si_errno: i32, si_code: i32, __pad0: pad(4), _sifields: bytes(112, 8) },
  {
    source: 'include/uapi/asm-generic/siginfo.h (Linux 7.3.4)',
    uapi: {
      header: 'asm/siginfo.h',
      ctype: 'siginfo_t',
      models: ['lp64'],
      except: ['_sifields'],
      sameSize: true,
      why: 'in C _sifields is the union of the per-signal layouts (32 bytes); _si_pad fills the 128',
    },
    abis: ['x86_64'],
  },
);

/**
 * compat_siginfo_t (include/linux/compat.h): what ia32 and x32 frames carry. compat_s64 is 4-aligned
 * on x86 (COMPAT_FOR_U64_ALIGNMENT), so the union starts at 12.
 */
export const compat_siginfo = struct(
  'compat_siginfo',
  { si_signo: i32, si_errno: i32, si_code: i32, _sifields: bytes(116, 4) },
  {
    source: 'include/linux/compat.h (Linux 7.3.4)',
    uapi: {
      header: 'asm/siginfo.h',
      ctype: 'siginfo_t',
      models: ['ilp32'],
      except: ['_sifields'],
      sameSize: true,
      why: 'in C _sifields is the union of the per-signal layouts; _si_pad fills the 128',
    },
    note: "x32's uapi siginfo_t is aligned(8) (__ARCH_SI_ATTRIBUTES) but has these offsets; in rt_sigframe_x32 it sits at 296 either way",
    abis: ['ia32', 'x32'],
    kernelInternal: true,
  },
);

/** struct rt_sigframe: x86-64 frames. */
export const rt_sigframe = struct(
  'rt_sigframe',
  { pretcode: ptr, uc: ucontext, info: siginfo },
  { source: sigframeH, abis: ['x86_64'], kernelInternal: true },
);

/** struct rt_sigframe_x32: 64-bit restorer pointer, 32-bit ucontext pointers. */
export const rt_sigframe_x32 = struct(
  'rt_sigframe_x32',
  { pretcode: u64, uc: ucontext_x32, info: compat_siginfo },
  { source: sigframeH, abis: ['x32'], kernelInternal: true },
);

/** struct sigframe_ia32: legacy (non-SA_SIGINFO) ia32 frames. fpstate_unused is never written. */
export const sigframe_ia32 = struct(
  'sigframe_ia32',
  {
    pretcode: u32,
    sig: i32,
    sc: sigcontext_32,
    fpstate_unused: fpstate_32,
    extramask: array(u32, 1),
    retcode: bytes(8),
  },
  { source: sigframeH, abis: ['ia32'], kernelInternal: true },
);

/** struct rt_sigframe_ia32: SA_SIGINFO ia32 frames. */
export const rt_sigframe_ia32 = struct(
  'rt_sigframe_ia32',
  {
    pretcode: u32,
    sig: i32,
    pinfo: u32,
    puc: u32,
    info: compat_siginfo,
    uc: ucontext_ia32,
    retcode: bytes(8),
  },
  { source: sigframeH, abis: ['ia32'], kernelInternal: true },
);

/**
 * The FSAVE-format header 32-bit frames carry in front of the FXSAVE/XSAVE image: the first 112
 * bytes of `_fpstate_32`, written by save_fsave_header() (arch/x86/kernel/fpu/signal.c) from
 * convert_from_fxsr(). The kernel's struct fregs_state (asm/fpu/types.h) ends in a u32 `status`;
 * frames store the FXSAVE status word in its low half and X86_FXSR_MAGIC in the high half.
 */
export const fregs_state = struct(
  'fregs_state',
  {
    cwd: u32,
    swd: u32,
    twd: u32,
    fip: u32,
    fcs: u32,
    foo: u32,
    fos: u32,
    st_space: array(bytes(10, 1), 8),
    status: u16,
    magic: u16,
  },
  {
    source: 'arch/x86/include/asm/fpu/types.h, arch/x86/kernel/fpu/signal.c (Linux 7.3.4)',
    abis: ['ia32'],
    kernelInternal: true,
    note: 'st_space is u32[20] in C: eight 10-byte x87 registers in ST(i) order',
  },
);

export const frameStructs = [
  siginfo,
  compat_siginfo,
  rt_sigframe,
  rt_sigframe_x32,
  sigframe_ia32,
  rt_sigframe_ia32,
  fregs_state,
] as const;

/**
 * The four frame shapes a handler can get, as data: which struct the kernel pushes, for which
 * ABI, and the two placement rules that differ (arch/x86/kernel/signal.c get_sigframe(), Linux
 * 7.3.4). 64-bit and x32 code may use 128 bytes below %rsp (the psABI red zone), so frames on the
 * normal stack start below it; ia32 frames carry the 112-byte FSAVE header in front of the
 * FXSAVE/XSAVE image when the CPU has FXSR. The entry alignment is the psABI's — (sp + 8) % 16 == 0
 * on x86-64/x32, (sp + 4) % 16 == 0 on i386 — reached as sp = round_down(sp + add, 16) − sub:
 * the 64-bit rule always moves at least 8 bytes down, the i386 rule as little as it can.
 *
 * Where the sigcontext sits (`sigcontext`, a member path) and the ucontext around it (`ucontext`,
 * null for the legacy frame, which has none) is each kind's own; every reader and writer finds them
 * here. `derived` names the members the kernel computes rather than copies from the interrupted
 * context, and from what (FrameDerivation): the builder fills them, the writer leaves them alone.
 *
 * What the kernel writes differs too (signal_64.c, signal_32.c): the uc_flags it always sets
 * (UC_FP_XSTATE is added with XSAVE; x32 runs in 64-bit mode, so it gets UC_STRICT_RESTORE_SS;
 * null: no ucontext), the members it never writes (kernelSkips: sigcontext's reserved words, the
 * legacy frame's fpstate_unused), the members copied whole from a kernel buffer, padding and all
 * (siginfo: copy_siginfo_to_user), and the gdb-marker `retcode` of 32-bit frames
 * (popl %eax; movl $__NR_sigreturn, %eax; int $0x80 — and movl $__NR_rt_sigreturn for rt).
 */
export const frameKinds = {
  x86_64: {
    name: 'x86_64',
    abi: 'x86_64',
    struct: rt_sigframe,
    sigcontext: 'uc.uc_mcontext',
    ucontext: 'uc',
    redZone: 128,
    fsaveHeader: false,
    entryAlign: { add: 0, sub: 8 },
    ucFlags: ['UC_SIGCONTEXT_SS', 'UC_STRICT_RESTORE_SS'],
    kernelSkips: ['uc.uc_mcontext.reserved1'],
    copiedWhole: ['info'],
    retcode: null,
    derived: {
      'uc.uc_flags': 'uc_flags',
      'uc.uc_link': 'null',
      'uc.uc_stack': 'uc_stack',
      'uc.uc_mcontext.fpstate': 'fpstate',
      'uc.uc_mcontext.sp': 'sp',
      'uc.uc_mcontext.oldmask': 'sigmask',
    },
    describe: 'x86-64 rt frame (every 64-bit handler)',
  },
  x32: {
    name: 'x32',
    abi: 'x32',
    struct: rt_sigframe_x32,
    sigcontext: 'uc.uc_mcontext',
    ucontext: 'uc',
    redZone: 128,
    fsaveHeader: false,
    entryAlign: { add: 0, sub: 8 },
    ucFlags: ['UC_SIGCONTEXT_SS', 'UC_STRICT_RESTORE_SS'],
    kernelSkips: ['uc.uc_mcontext.reserved1'],
    copiedWhole: ['info'],
    retcode: null,
    derived: {
      'uc.uc_flags': 'uc_flags',
      'uc.uc_link': 'null',
      'uc.uc_stack': 'uc_stack',
      'uc.uc_mcontext.fpstate': 'fpstate',
      'uc.uc_mcontext.sp': 'sp',
      'uc.uc_mcontext.oldmask': 'sigmask',
    },
    describe: 'x32 rt frame',
  },
  ia32: {
    name: 'ia32',
    abi: 'ia32',
    struct: sigframe_ia32,
    sigcontext: 'sc',
    ucontext: null,
    redZone: 0,
    fsaveHeader: true,
    entryAlign: { add: 4, sub: 4 },
    ucFlags: null,
    kernelSkips: ['fpstate_unused'],
    copiedWhole: [],
    retcode: [0x58, 0xb8, 0x77, 0x00, 0x00, 0x00, 0xcd, 0x80],
    derived: {
      'sc.fpstate': 'fpstate',
      'sc.sp': 'sp',
      'sc.sp_at_signal': 'sp',
      retcode: 'retcode',
    },
    describe: 'ia32 legacy frame (handler installed without SA_SIGINFO)',
  },
  'ia32-rt': {
    name: 'ia32-rt',
    abi: 'ia32',
    struct: rt_sigframe_ia32,
    sigcontext: 'uc.uc_mcontext',
    ucontext: 'uc',
    redZone: 0,
    fsaveHeader: true,
    entryAlign: { add: 4, sub: 4 },
    ucFlags: [],
    kernelSkips: [],
    copiedWhole: ['info'],
    retcode: [0xb8, 0xad, 0x00, 0x00, 0x00, 0xcd, 0x80, 0x00],
    derived: {
      pinfo: 'address_of_info',
      puc: 'address_of_uc',
      sig: 'signo',
      'uc.uc_flags': 'uc_flags',
      'uc.uc_link': 'null',
      'uc.uc_stack': 'uc_stack',
      'uc.uc_mcontext.fpstate': 'fpstate',
      'uc.uc_mcontext.sp': 'sp',
      'uc.uc_mcontext.sp_at_signal': 'sp',
      'uc.uc_mcontext.oldmask': 'sigmask',
      retcode: 'retcode',
    },
    describe: 'ia32 rt frame (SA_SIGINFO)',
  },
} as const satisfies Record<
  string,
  { readonly derived: Readonly<Record<string, FrameDerivation>>; readonly [member: string]: unknown }
>;

/**
 * Where a derived member comes from: the FP state's address, the interrupted sp (regs->sp, where
 * placement starts), the blocked mask (sigcontext.oldmask is its low word), the frame's own
 * siginfo and ucontext addresses (pinfo, puc), the signal number, uc_flags, a NULL uc_link, the
 * thread's sigaltstack (uc_stack), the gdb-marker retcode.
 */
export type FrameDerivation =
  | 'fpstate'
  | 'sp'
  | 'sigmask'
  | 'address_of_info'
  | 'address_of_uc'
  | 'signo'
  | 'uc_flags'
  | 'null'
  | 'uc_stack'
  | 'retcode';

export type FrameKindName = keyof typeof frameKinds;
export type FrameKind = (typeof frameKinds)[FrameKindName];
