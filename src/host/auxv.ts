import { readFileSync } from 'node:fs';
import { K } from '../abi/constants.js';
import { parseAuxvWords } from '../core/notes.js';

/** AT_MINSIGSTKSZ of this process, or undefined when the kernel does not provide it (before 5.14). */
export function hostAtMinsigstksz(): number | undefined {
  const v = parseAuxvWords(readFileSync('/proc/self/auxv'), 8).get(K.AT_MINSIGSTKSZ);
  return v === undefined ? undefined : Number(v);
}
