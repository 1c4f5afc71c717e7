/**
 * The segment selectors a user task can hold, as the kernel's GDT defines them
 * (arch/x86/include/asm/segment.h, Linux 7.3.4; unchanged since 4.x). rt_sigreturn copies the
 * frame's selectors back into the task's registers, and what the CPU then does with them on the
 * way back to user mode — IRET loads CS and SS, the 32-bit path loads DS, ES, FS and GS — depends
 * on the descriptor each selects. Descriptors a task makes itself (set_thread_area() TLS entries,
 * modify_ldt() LDT entries) are marked `task`: whether they exist is the task's, not the frame's.
 *
 * A selector is index << 3 | TI << 2 | RPL; the kernel forces RPL 3 on every selector it restores.
 */
export type Descriptor =
  /** Present, DPL 3, executable: `bits` says which mode IRET returns to. */
  | { readonly type: 'code'; readonly bits: 64 | 32; readonly readable: true }
  /** Present, DPL 3, read/write data: valid for SS and for DS/ES/FS/GS. */
  | { readonly type: 'data'; readonly writable: boolean }
  /** Installed by the task itself (set_thread_area(), modify_ldt()): unknown from a frame. */
  | { readonly type: 'task'; readonly what: string }
  /** DPL 0 or a system descriptor: no user selector may load it. */
  | { readonly type: 'kernel'; readonly what: string };

export interface GdtLayout {
  readonly source: string;
  /** The selectors of the user code and data segments (RPL 3). */
  readonly userCs: number;
  readonly user32Cs: number | null;
  readonly userDs: number;
  /** GDT entries by index; an index beyond the table selects nothing (#GP). */
  readonly entries: readonly (readonly [index: number, d: Descriptor])[];
  readonly gdtEntries: number;
}

const TLS = { type: 'task', what: 'a set_thread_area() TLS entry' } as const;

export const gdtLayouts = {
  /** x86-64 kernels: 64-bit tasks and, with IA32_EMULATION, 32-bit ones. */
  64: {
    source: 'arch/x86/include/asm/segment.h (CONFIG_X86_64), Linux 7.3.4',
    userCs: 0x33,
    user32Cs: 0x23,
    userDs: 0x2b,
    entries: [
      [1, { type: 'kernel', what: 'GDT_ENTRY_KERNEL32_CS' }],
      [2, { type: 'kernel', what: 'GDT_ENTRY_KERNEL_CS' }],
      [3, { type: 'kernel', what: 'GDT_ENTRY_KERNEL_DS' }],
      [4, { type: 'code', bits: 32, readable: true }],
      [5, { type: 'data', writable: true }],
      [6, { type: 'code', bits: 64, readable: true }],
      [8, { type: 'kernel', what: 'GDT_ENTRY_TSS' }],
      [10, { type: 'kernel', what: 'GDT_ENTRY_LDT' }],
      [12, TLS],
      [13, TLS],
      [14, TLS],
      // setup_getcpu(): a read-only, expand-down data segment whose limit encodes CPU and node.
      [15, { type: 'data', writable: false }],
    ],
    gdtEntries: 16,
  },
  /** i386 kernels (CONFIG_X86_32): a different table, not run here. */
  32: {
    source: 'arch/x86/include/asm/segment.h (CONFIG_X86_32), Linux 7.3.4',
    userCs: 0x73,
    user32Cs: null,
    userDs: 0x7b,
    entries: [
      [6, TLS],
      [7, TLS],
      [8, TLS],
      [12, { type: 'kernel', what: 'GDT_ENTRY_KERNEL_CS' }],
      [13, { type: 'kernel', what: 'GDT_ENTRY_KERNEL_DS' }],
      [14, { type: 'code', bits: 32, readable: true }],
      [15, { type: 'data', writable: true }],
      [16, { type: 'kernel', what: 'GDT_ENTRY_TSS' }],
      [17, { type: 'kernel', what: 'GDT_ENTRY_LDT' }],
      [27, { type: 'data', writable: false }],
    ],
    gdtEntries: 32,
  },
} as const satisfies Record<64 | 32, GdtLayout>;

/**
 * What IRET from 64-bit mode to 32-bit (compatibility-mode) code holds against CS's 4 GiB limit,
 * by CPU vendor (CPUID leaf 0): AMD's IRET compares the whole popped RIP and raises #GP; Intel's
 * compares EIP only ("IF tempEIP is not within code segment limits") and resumes at it, dropping
 * RIP's upper half. native/sigreturn.c's `cs_user32_ip_high` shows both (test/fixtures/sigreturn/).
 */
export type IretCompatLimit = { readonly checks: 'rip' | 'eip'; readonly source: string };

export const iretCompatLimit: Readonly<Record<string, IretCompatLimit>> = {
  // Only the vendors whose IRET a run here showed; any other gets AMD's rule and a note.
  AuthenticAMD: {
    checks: 'rip',
    source:
      'seen on AMD EPYC Zen 4: IRET to CS 0x23 with RIP beyond 4 GiB raised #GP (test/fixtures/sigreturn/amd-epyc-zen4, cs_user32); AMD APM Vol. 3, IRET',
  },
  GenuineIntel: {
    checks: 'eip',
    source:
      'Intel SDM Vol. 2A IRET, Operation, RETURN-TO-OUTER-PRIVILEGE-LEVEL: "IF tempEIP is not within code segment limits … EIP ← tempEIP"',
  },
};

/** The lowest address user space can map: vm.mmap_min_addr's default (CONFIG_DEFAULT_MMAP_MIN_ADDR, 65536 on x86 distribution kernels). */
export const MMAP_MIN_ADDR = 0x10000n;

/**
 * The flags rt_sigreturn takes from the frame (FIX_EFLAGS, arch/x86/include/asm/sighandling.h,
 * Linux 7.3.4): AC, OF, DF, TF, SF, ZF, AF, PF, CF and RF. The rest — IF, IOPL, NT, VM — stay
 * the kernel's.
 */
export const EFLAGS = {
  CF: 0x1,
  PF: 0x4,
  AF: 0x10,
  ZF: 0x40,
  SF: 0x80,
  TF: 0x100,
  IF: 0x200,
  DF: 0x400,
  OF: 0x800,
  IOPL: 0x3000,
  NT: 0x4000,
  RF: 0x10000,
  AC: 0x40000,
} as const;

export const FIX_EFLAGS =
  EFLAGS.AC |
  EFLAGS.OF |
  EFLAGS.DF |
  EFLAGS.TF |
  EFLAGS.SF |
  EFLAGS.ZF |
  EFLAGS.AF |
  EFLAGS.PF |
  EFLAGS.CF |
  EFLAGS.RF;
