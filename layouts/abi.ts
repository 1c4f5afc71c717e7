/**
 * The three x86 Linux signal ABIs and the C data models their structs are compiled under.
 *
 * A frame struct is laid out by whoever compiles it: uapi structs by the user program (the ABI's
 * data model), kernel-internal frame structs (rt_sigframe*, sigframe_ia32, ucontext_ia32/x32) by
 * the kernel — LP64 on x86-64 kernels, ILP32 on i386 kernels. Sources: the System V i386 and
 * x86-64 psABIs (x32: ILP32 with 8-byte aligned long long), arch/x86/include/asm/sigframe.h.
 */
export const dataModels = {
  lp64: { name: 'lp64', pointer: 8, long: 8, u64Align: 8 },
  ilp32: { name: 'ilp32', pointer: 4, long: 4, u64Align: 4 },
  x32: { name: 'x32', pointer: 4, long: 4, u64Align: 8 },
} as const;

export type DataModelName = keyof typeof dataModels;

export const abis = {
  x86_64: { name: 'x86_64', user: 'lp64', cflag: '-m64', kernel64: 'lp64', kernel32: null },
  x32: { name: 'x32', user: 'x32', cflag: '-mx32', kernel64: 'lp64', kernel32: null },
  ia32: { name: 'ia32', user: 'ilp32', cflag: '-m32', kernel64: 'lp64', kernel32: 'ilp32' },
} as const;

export type AbiName = keyof typeof abis;
