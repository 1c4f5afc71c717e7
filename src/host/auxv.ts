import { readFileSync } from 'node:fs';
import { parseAuxvWords } from '../core/notes.js';

/** Aux vector tags sigframe reads (include/uapi/linux/auxvec.h). */
export const AT_MINSIGSTKSZ = 51;

/** AT_MINSIGSTKSZ of this process, or undefined when the kernel does not provide it (before 5.14). */
export function hostAtMinsigstksz(): number | undefined {
  const v = parseAuxvWords(readFileSync('/proc/self/auxv'), 8).get(AT_MINSIGSTKSZ);
  return v === undefined ? undefined : Number(v);
}
