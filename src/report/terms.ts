/**
 * The alt stack top sizing assumes unless told otherwise: a stack from mmap() or malloc() of a
 * page multiple ends at a page boundary (`sigframe size --top-align`, sigframe.h's min_altstack).
 */
export const DEFAULT_TOP_ALIGN = 4096;

/**
 * The four sizes `sigframe size` reports, each named once: its JSON key, the column heading the
 * table uses, and what it means. The CLI prints the meanings under its table; README's "The four
 * sizes" section carries the same sentences (a test keeps them equal).
 */
export const sizeTerms = [
  {
    key: 'frame.bytes_below_top',
    column: 'frame',
    meaning:
      "the frame's footprint: bytes from the alt stack's top down to where the frame starts (the handler's entry stack pointer), for the worst top of the given alignment (frame.bytes_below_worst_top: for any top)",
  },
  {
    key: 'min_altstack',
    column: 'min ss_size',
    meaning:
      'the smallest ss_size on which the kernel delivers a signal: the frame must start above ss_sp (footprint + 1) and sigaltstack() must accept the size (min_altstack_worst: for any top)',
  },
  {
    key: 'sigaltstack.min_accepted',
    column: 'sigaltstack ≥',
    meaning:
      'the smallest ss_size sigaltstack() accepts: MINSIGSTKSZ, or more with AMX permission or CONFIG_STRICT_SIGALTSTACK_SIZE (ENOMEM below it)',
  },
  {
    key: 'allocate.minimum',
    column: 'allocate ≥',
    meaning:
      "what to allocate, before the handler's own use: min_altstack for any top, in this AMX state and every state the thread can still reach",
  },
] as const;

export type SizeTermKey = (typeof sizeTerms)[number]['key'];

export function sizeTerm(key: SizeTermKey): (typeof sizeTerms)[number] {
  return sizeTerms.find((t) => t.key === key)!;
}
