import { readFileSync } from 'node:fs';

/** Aux vector tags sigframe reads (include/uapi/linux/auxvec.h). */
export const AT_NULL = 0;
export const AT_MINSIGSTKSZ = 51;

/**
 * Parses a 64-bit aux vector (pairs of u64 type, u64 value, ended by AT_NULL) as found in
 * /proc/<pid>/auxv. Bounded by the buffer: a truncated vector just ends.
 */
export function parseAuxv(bytes: Uint8Array): Map<number, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<number, bigint>();
  for (let off = 0; off + 16 <= bytes.length; off += 16) {
    const type = view.getBigUint64(off, true);
    if (type === BigInt(AT_NULL)) break;
    if (type <= BigInt(Number.MAX_SAFE_INTEGER)) out.set(Number(type), view.getBigUint64(off + 8, true));
  }
  return out;
}

/** AT_MINSIGSTKSZ of this process, or undefined when the kernel does not provide it (before 5.14). */
export function hostAtMinsigstksz(): number | undefined {
  const v = parseAuxv(readFileSync('/proc/self/auxv')).get(AT_MINSIGSTKSZ);
  return v === undefined ? undefined : Number(v);
}
