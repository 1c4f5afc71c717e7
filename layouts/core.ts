import { bytes, i32, struct, u8, u16, u32, u64, ulong } from '../src/schema/node.js';

/**
 * ELF core files as Linux writes them (fs/binfmt_elf.c, include/uapi/linux/elf.h, Linux 6.18) and
 * as gdb's `gcore` writes them. One struct per record; `ulong` members take the class's word size,
 * so the ELF header serves ELFCLASS64 (laid out LP64) and ELFCLASS32 (ILP32) alike. The program
 * header is two structs because ELF32 and ELF64 order its members differently.
 */
export const ELF = {
  MAGIC: [0x7f, 0x45, 0x4c, 0x46],
  CLASS32: 1,
  CLASS64: 2,
  DATA2LSB: 1,
  ET_CORE: 4,
  EM_386: 3,
  EM_X86_64: 62,
  PT_LOAD: 1,
  PT_NOTE: 4,
  PF_X: 1,
  PF_W: 2,
  PF_R: 4,
} as const;

const elfH = 'include/uapi/linux/elf.h (Linux 6.18)';

export const elf_ehdr = struct(
  'elf_ehdr',
  {
    e_ident: bytes(16),
    e_type: u16,
    e_machine: u16,
    e_version: u32,
    e_entry: ulong,
    e_phoff: ulong,
    e_shoff: ulong,
    e_flags: u32,
    e_ehsize: u16,
    e_phentsize: u16,
    e_phnum: u16,
    e_shentsize: u16,
    e_shnum: u16,
    e_shstrndx: u16,
  },
  {
    source: elfH,
    uapi: { header: 'elf.h', ctype: 'Elf64_Ehdr', models: ['lp64'] },
    note: 'Elf32_Ehdr under ILP32: Addr and Off are the word size, everything else is fixed',
  },
);

export const elf64_phdr = struct(
  'elf64_phdr',
  {
    p_type: u32,
    p_flags: u32,
    p_offset: u64,
    p_vaddr: u64,
    p_paddr: u64,
    p_filesz: u64,
    p_memsz: u64,
    p_align: u64,
  },
  { source: elfH, uapi: { header: 'elf.h', ctype: 'Elf64_Phdr', models: ['lp64', 'ilp32'] } },
);

export const elf32_phdr = struct(
  'elf32_phdr',
  {
    p_type: u32,
    p_offset: u32,
    p_vaddr: u32,
    p_paddr: u32,
    p_filesz: u32,
    p_memsz: u32,
    p_flags: u32,
    p_align: u32,
  },
  { source: elfH, uapi: { header: 'elf.h', ctype: 'Elf32_Phdr', models: ['lp64', 'ilp32'] } },
);

export const elf_nhdr = struct(
  'elf_nhdr',
  { n_namesz: u32, n_descsz: u32, n_type: u32 },
  { source: elfH, uapi: { header: 'elf.h', ctype: 'Elf64_Nhdr', models: ['lp64', 'ilp32'] } },
);

/** The note types a core carries, with their owner; `thread` notes follow their thread's NT_PRSTATUS. */
export const noteTypes = [
  { type: 1, name: 'NT_PRSTATUS', owner: 'CORE', scope: 'thread', what: 'struct elf_prstatus: the GPRs' },
  {
    type: 2,
    name: 'NT_FPREGSET',
    owner: 'CORE',
    scope: 'thread',
    what: 'x86_64: the FXSAVE image; i386: the FSAVE image',
  },
  { type: 3, name: 'NT_PRPSINFO', owner: 'CORE', scope: 'process', what: 'struct elf_prpsinfo' },
  { type: 6, name: 'NT_AUXV', owner: 'CORE', scope: 'process', what: 'the aux vector' },
  {
    type: 0x53494749,
    name: 'NT_SIGINFO',
    owner: 'CORE',
    scope: 'thread',
    what: 'the siginfo of the signal that dumped (kernel: once, for the dumping thread; gcore: per thread)',
  },
  { type: 0x46494c45, name: 'NT_FILE', owner: 'CORE', scope: 'process', what: 'mapped files' },
  { type: 0x46e62b7f, name: 'NT_PRXFPREG', owner: 'LINUX', scope: 'thread', what: 'i386: the FXSAVE image' },
  { type: 0x200, name: 'NT_386_TLS', owner: 'LINUX', scope: 'thread', what: 'i386 TLS descriptors' },
  {
    type: 0x202,
    name: 'NT_X86_XSTATE',
    owner: 'LINUX',
    scope: 'thread',
    what: 'standard-format XSAVE image',
  },
  { type: 0x204, name: 'NT_X86_SHSTK', owner: 'LINUX', scope: 'thread', what: 'shadow stack state' },
  {
    type: 0x205,
    name: 'NT_X86_XSAVE_LAYOUT',
    owner: 'LINUX',
    scope: 'process',
    what: 'the XSAVE layout: {type, size, offset, flags} per extended component (ba386777a30b, Linux 6.12)',
  },
] as const;

export type NoteName = (typeof noteTypes)[number]['name'];
export const NT = Object.fromEntries(noteTypes.map((n) => [n.name, n.type])) as { [K in NoteName]: number };

/** struct x86_xfeat_component (arch/x86/include/asm/elf.h, Linux 6.12): one entry of NT_X86_XSAVE_LAYOUT. */
export const x86_xfeat_component = struct(
  'x86_xfeat_component',
  { type: u32, size: u32, offset: u32, flags: u32 },
  {
    source: 'arch/x86/kernel/fpu/xstate.c dump_xsave_layout_desc() (Linux 6.12): flags is CPUID.(0xD,n).ECX',
  },
);

/** struct elf_siginfo: the first member of elf_prstatus. */
const elf_siginfo = struct(
  'elf_siginfo',
  { si_signo: i32, si_code: i32, si_errno: i32 },
  { source: 'include/linux/elfcore.h (Linux 6.18)' },
);
const timeval = struct('timeval', { tv_sec: ulong, tv_usec: ulong });

/** user_regs_struct of x86_64 (arch/x86/include/asm/user_64.h): what NT_PRSTATUS's pr_reg holds. */
export const user_regs_64 = struct(
  'user_regs_struct_64',
  {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    rbp: u64,
    rbx: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rax: u64,
    rcx: u64,
    rdx: u64,
    rsi: u64,
    rdi: u64,
    orig_rax: u64,
    rip: u64,
    cs: u64,
    eflags: u64,
    rsp: u64,
    ss: u64,
    fs_base: u64,
    gs_base: u64,
    ds: u64,
    es: u64,
    fs: u64,
    gs: u64,
  },
  {
    source: 'arch/x86/include/asm/user_64.h (Linux 6.18)',
    uapi: { header: 'sys/user.h', ctype: 'struct user_regs_struct', models: ['lp64'] },
  },
);

/** user_regs_struct of i386 (arch/x86/include/asm/user_32.h; compat cores use the same layout). */
export const user_regs_32 = struct(
  'user_regs_struct_32',
  {
    ebx: u32,
    ecx: u32,
    edx: u32,
    esi: u32,
    edi: u32,
    ebp: u32,
    eax: u32,
    xds: u32,
    xes: u32,
    xfs: u32,
    xgs: u32,
    orig_eax: u32,
    eip: u32,
    xcs: u32,
    eflags: u32,
    esp: u32,
    xss: u32,
  },
  {
    source: 'arch/x86/include/asm/user_32.h (Linux 6.18)',
    uapi: { header: 'sys/user.h', ctype: 'struct user_regs_struct', models: ['ilp32'] },
  },
);

const prstatusCommon = {
  pr_info: elf_siginfo,
  pr_cursig: u16,
  pr_sigpend: ulong,
  pr_sighold: ulong,
  pr_pid: i32,
  pr_ppid: i32,
  pr_pgrp: i32,
  pr_sid: i32,
  pr_utime: timeval,
  pr_stime: timeval,
  pr_cutime: timeval,
  pr_cstime: timeval,
} as const;

export const elf_prstatus_64 = struct(
  'elf_prstatus_64',
  { ...prstatusCommon, pr_reg: user_regs_64, pr_fpvalid: i32 },
  {
    source: 'include/linux/elfcore.h (Linux 6.18)',
    uapi: { header: 'sys/procfs.h', ctype: 'struct elf_prstatus', models: ['lp64'] },
  },
);

export const elf_prstatus_32 = struct(
  'elf_prstatus_32',
  { ...prstatusCommon, pr_reg: user_regs_32, pr_fpvalid: i32 },
  {
    source: 'include/linux/elfcore.h, compat_elf_prstatus (Linux 6.18)',
    uapi: { header: 'sys/procfs.h', ctype: 'struct elf_prstatus', models: ['ilp32'] },
  },
);

/** struct elf_prpsinfo: x86_64 has 32-bit uids, i386 (and compat cores) 16-bit ones. */
const prpsinfo = (uid: typeof u32 | typeof u16) => ({
  pr_state: u8,
  pr_sname: u8,
  pr_zomb: u8,
  pr_nice: u8,
  pr_flag: ulong,
  pr_uid: uid,
  pr_gid: uid,
  pr_pid: i32,
  pr_ppid: i32,
  pr_pgrp: i32,
  pr_sid: i32,
  pr_fname: bytes(16),
  pr_psargs: bytes(80),
});
export const elf_prpsinfo_64 = struct('elf_prpsinfo_64', prpsinfo(u32), {
  source: 'include/linux/elfcore.h (Linux 6.18)',
  uapi: { header: 'sys/procfs.h', ctype: 'struct elf_prpsinfo', models: ['lp64'] },
});
export const elf_prpsinfo_32 = struct('elf_prpsinfo_32', prpsinfo(u16), {
  source: 'include/linux/elfcore.h, compat_elf_prpsinfo (__compat_uid_t is 16 bits; Linux 6.18)',
  uapi: { header: 'sys/procfs.h', ctype: 'struct elf_prpsinfo', models: ['ilp32'] },
});

/**
 * user_regs_struct member → sigcontext member (arch/x86/include/uapi/asm/sigcontext.h), so a core's
 * registers read like a frame's. Members sigcontext lacks keep their ptrace name.
 */
export const gregNames: Readonly<Record<string, string>> = {
  r15: 'r15',
  r14: 'r14',
  r13: 'r13',
  r12: 'r12',
  rbp: 'bp',
  rbx: 'bx',
  r11: 'r11',
  r10: 'r10',
  r9: 'r9',
  r8: 'r8',
  rax: 'ax',
  rcx: 'cx',
  rdx: 'dx',
  rsi: 'si',
  rdi: 'di',
  rip: 'ip',
  eflags: 'flags',
  rsp: 'sp',
  ebx: 'bx',
  ecx: 'cx',
  edx: 'dx',
  esi: 'si',
  edi: 'di',
  ebp: 'bp',
  eax: 'ax',
  xds: 'ds',
  xes: 'es',
  xfs: 'fs',
  xgs: 'gs',
  eip: 'ip',
  xcs: 'cs',
  esp: 'sp',
  xss: 'ss',
};

/** Aux vector tags a core's NT_AUXV is shown with (include/uapi/linux/auxvec.h, asm/auxvec.h). */
export const auxvNames: Readonly<Record<number, string>> = {
  3: 'AT_PHDR',
  4: 'AT_PHENT',
  5: 'AT_PHNUM',
  6: 'AT_PAGESZ',
  7: 'AT_BASE',
  8: 'AT_FLAGS',
  9: 'AT_ENTRY',
  11: 'AT_UID',
  12: 'AT_EUID',
  13: 'AT_GID',
  14: 'AT_EGID',
  15: 'AT_PLATFORM',
  16: 'AT_HWCAP',
  17: 'AT_CLKTCK',
  23: 'AT_SECURE',
  25: 'AT_RANDOM',
  26: 'AT_HWCAP2',
  31: 'AT_EXECFN',
  32: 'AT_SYSINFO',
  33: 'AT_SYSINFO_EHDR',
  27: 'AT_RSEQ_FEATURE_SIZE',
  28: 'AT_RSEQ_ALIGN',
  29: 'AT_HWCAP3',
  30: 'AT_HWCAP4',
  51: 'AT_MINSIGSTKSZ',
};

/**
 * What `sigframe core` reads at most. A core's notes are small (a few KiB per thread; an AMX
 * thread's XSTATE is 11 KiB); memory is read per window, never whole.
 */
export const CORE_LIMITS = {
  /** Bytes of all PT_NOTE segments together. */
  notes: 16 << 20,
  /** Bytes of stack scanned above a thread's sp for signal frames. */
  stackScan: 8 << 20,
  /** Signal frames followed per thread (nested signals). */
  frames: 64,
} as const;
