import { userSpaceEnds } from '../../layouts/address.js';
import { MMAP_MIN_ADDR } from '../../layouts/segments.js';
import { type Cpuid, fieldById } from '../cpuid/records.js';
import { InputError } from '../schema/errors.js';

/**
 * User memory as the kernel reads it during rt_sigreturn: the bytes a capture holds, at the
 * addresses the task saw. A read outside them is a fault — sigframe cannot know what else was
 * mapped, so it answers as the kernel would for unmapped memory, and says so.
 */
export interface UserMemory {
  readonly address: bigint;
  readonly bytes: Uint8Array;
}

const views = new WeakMap<Uint8Array, DataView>();

/**
 * A DataView over exactly `bytes`, kept while they live: a frame's decode reads them in several
 * places, and making a view costs more than the words read through it.
 */
export function viewOf(bytes: Uint8Array): DataView {
  let v = views.get(bytes);
  if (v === undefined) {
    v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    views.set(bytes, v);
  }
  return v;
}

/** Where `len` bytes at `addr` start in the captured bytes, or -1 where a read would fault. */
export function userOffset(m: UserMemory, addr: bigint, len: number): number {
  const off = Number(addr - m.address);
  return off >= 0 && off + len <= m.bytes.length ? off : -1;
}

/** copy_from_user(): the bytes, or undefined where the read would fault. */
export function copyFromUser(m: UserMemory, addr: bigint, len: number): Uint8Array | undefined {
  const off = userOffset(m, addr, len);
  return off < 0 ? undefined : m.bytes.subarray(off, off + len);
}

/** get_user() of a u32. */
export function getU32(m: UserMemory, addr: bigint): number | undefined {
  const o = userOffset(m, addr, 4);
  return o < 0 ? undefined : viewOf(m.bytes).getUint32(o, true);
}

/**
 * The end of user space access_ok() allows (layouts/address.ts): TASK_SIZE_MAX with 4-level
 * paging, (1 << 47) − PAGE_SIZE, and for 32-bit tasks IA32_PAGE_OFFSET, 0xffffe000 (0xc0000000 on
 * an i386 kernel with the usual 3G/1G split). The sigreturn and inference models use the 4-level
 * end; userSpace() below says which end applies to an address someone gives.
 */
export function userEnd(taskBits: 64 | 32, kernelBits: 64 | 32): bigint {
  if (taskBits === 64) return userSpaceEnds.x86_64_4level;
  return kernelBits === 64 ? userSpaceEnds.compat : userSpaceEnds.i386;
}

/** The paging mode of the kernel, as far as the CPU tells: 4-level only without LA57. */
export type Paging = 4 | 5 | 'unknown';

/** What CPUID says about the paging mode: no LA57, 4-level; with it, either. */
export function pagingOf(cpuid: Pick<Cpuid, 'has' | 'flag'>): Paging {
  const la57 = fieldById('la57');
  if (la57.subleaf === 'n' || !cpuid.has(la57.leaf, la57.subleaf)) return 'unknown';
  return cpuid.flag('la57') ? 'unknown' : 4;
}

/** The user address space of a task: [MMAP_MIN_ADDR, end), and in words which limit that is. */
export interface UserSpace {
  readonly start: bigint;
  readonly end: bigint;
  readonly what: string;
}

/**
 * The user address space of a task of `abi` (x32 and ia32 tasks both run with TIF_ADDR32) under a
 * kernel of `kernelBits`. With the paging mode unknown, a 64-bit task may reach the 5-level end,
 * and the description says what the 4-level one is.
 */
export function userSpace(abi: 'x86_64' | 'x32' | 'ia32', kernelBits: 64 | 32, paging: Paging): UserSpace {
  const start = MMAP_MIN_ADDR;
  if (abi !== 'x86_64') {
    const task = abi === 'x32' ? 'an x32 task' : 'an ia32 task';
    return kernelBits === 64
      ? {
          start,
          end: userSpaceEnds.compat,
          what: `the end of ${task}'s user space on a 64-bit kernel (IA32_PAGE_OFFSET, TASK_SIZE with TIF_ADDR32)`,
        }
      : {
          start,
          end: userSpaceEnds.i386,
          what: `the end of user space on an i386 kernel (TASK_SIZE = PAGE_OFFSET with the default 3G/1G split)`,
        };
  }
  if (paging === 4)
    return {
      start,
      end: userSpaceEnds.x86_64_4level,
      what: 'the end of x86_64 user space with 4-level paging (TASK_SIZE_MAX; this CPU has no LA57, so no 5-level paging)',
    };
  if (paging === 5)
    return {
      start,
      end: userSpaceEnds.x86_64_5level,
      what: 'the end of x86_64 user space with 5-level paging (TASK_SIZE_MAX)',
    };
  return {
    start,
    end: userSpaceEnds.x86_64_5level,
    what: `the end of x86_64 user space with 5-level paging (TASK_SIZE_MAX; it is ${hexAddr(userSpaceEnds.x86_64_4level)} with 4-level paging, the usual mode)`,
  };
}

/**
 * The one rule for an address someone gives: the `length` bytes from `start` (a frame, a capture's
 * bytes, an alt stack) lie inside user space — at or above vm.mmap_min_addr's default and below
 * the end `space` names. Returns the InputError naming `option` and `value` when they do not.
 */
export function userRangeError(
  option: string,
  value: bigint,
  start: bigint,
  length: bigint,
  what: string,
  space: UserSpace,
  path = option.replace(/^--/, ''),
): InputError | undefined {
  const end = start + length;
  const span =
    start < 0n
      ? `would start ${hexAddr(-start)} bytes below address 0`
      : `would span ${hexAddr(start)}..${hexAddr(end)} (${length} bytes)`;
  const head = `${option} ${hexAddr(value)}: ${what} ${span}, outside user space`;
  if (start < space.start)
    return new InputError(
      `${head}: nothing is mapped below ${hexAddr(space.start)} (vm.mmap_min_addr's default)`,
      {
        path,
      },
    );
  if (end > space.end)
    return new InputError(`${head}: it ends at ${hexAddr(space.end)}, ${space.what}`, { path });
  return undefined;
}

/** access_ok(): the whole range lies below the end of user space. */
export function accessOk(addr: bigint, len: number, end: bigint): boolean {
  return addr >= 0n && addr + BigInt(len) <= end;
}

export function hexAddr(v: bigint | number): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}
