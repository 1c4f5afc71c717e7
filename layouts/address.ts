/**
 * The end of a task's user address space on x86 Linux: the first address outside the user range
 * (TASK_SIZE), which no mapping — and so no signal frame, alt stack or captured stack — reaches.
 *
 * Sources (torvalds/linux, the Linux 6.16+ text that 6.18 carries; arch/x86):
 *  - include/asm/page_64_types.h: `TASK_SIZE_MAX task_size_max()`, `__VIRTUAL_MASK_SHIFT
 *    (pgtable_l5_enabled() ? 56 : 47)`, `IA32_PAGE_OFFSET ((current->personality & ADDR_LIMIT_3GB) ?
 *    0xc0000000 : 0xFFFFe000)`, `TASK_SIZE (test_thread_flag(TIF_ADDR32) ? IA32_PAGE_OFFSET :
 *    TASK_SIZE_MAX)`.
 *  - include/asm/page_64.h task_size_max(): `(1ul << 47) - PAGE_SIZE`, or `(1ul << 56) - PAGE_SIZE`
 *    when the kernel runs 5-level page tables (X86_FEATURE_5LEVEL_PAGING, which needs CPUID LA57).
 *  - kernel/process_64.c set_personality_ia32(bool x32): `set_thread_flag(TIF_ADDR32)` for ia32
 *    and x32 tasks alike, so both get IA32_PAGE_OFFSET.
 *  - include/asm/page_32_types.h: on an i386 kernel TASK_SIZE is __PAGE_OFFSET, CONFIG_PAGE_OFFSET:
 *    0xC0000000 with the default (and largest) VMSPLIT_3G.
 */
export const PAGE_SIZE = 0x1000n;

export const userSpaceEnds = {
  /** x86_64 tasks, 4-level paging: TASK_SIZE_MAX = (1 << 47) − PAGE_SIZE. */
  x86_64_4level: (1n << 47n) - PAGE_SIZE,
  /** x86_64 tasks, 5-level paging: TASK_SIZE_MAX = (1 << 56) − PAGE_SIZE. */
  x86_64_5level: (1n << 56n) - PAGE_SIZE,
  /** ia32 and x32 tasks (TIF_ADDR32) on a 64-bit kernel: IA32_PAGE_OFFSET. */
  compat: 0xffffe000n,
  /** Any task of an i386 kernel with the usual 3G/1G split: __PAGE_OFFSET. */
  i386: 0xc0000000n,
} as const;
