/**
 * User memory as the kernel reads it during rt_sigreturn: the bytes a capture holds, at the
 * addresses the task saw. A read outside them is a fault — sigframe cannot know what else was
 * mapped, so it answers as the kernel would for unmapped memory, and says so.
 */
export interface UserMemory {
  readonly address: bigint;
  readonly bytes: Uint8Array;
}

/** copy_from_user(): the bytes, or undefined where the read would fault. */
export function copyFromUser(m: UserMemory, addr: bigint, len: number): Uint8Array | undefined {
  const off = addr - m.address;
  if (off < 0n || off + BigInt(len) > BigInt(m.bytes.length)) return undefined;
  return m.bytes.subarray(Number(off), Number(off) + len);
}

export function getU32(m: UserMemory, addr: bigint): number | undefined {
  const b = copyFromUser(m, addr, 4);
  return b && new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
}

/**
 * The end of user space access_ok() allows (arch/x86/include/asm/page_64_types.h, Linux 7.3.4):
 * TASK_SIZE_MAX with 4-level paging, (1 << 47) − PAGE_SIZE, and for 32-bit tasks
 * IA32_PAGE_OFFSET, 0xffffe000 (TASK_SIZE_32; 0xc0000000 on an i386 kernel with the usual 3G/1G
 * split). 5-level paging raises the 64-bit one; sigframe does not model it.
 */
export function userEnd(taskBits: 64 | 32, kernelBits: 64 | 32): bigint {
  if (taskBits === 64) return 0x7ffffffff000n;
  return kernelBits === 64 ? 0xffffe000n : 0xc0000000n;
}

/** access_ok(): the whole range lies below the end of user space. */
export function accessOk(addr: bigint, len: number, end: bigint): boolean {
  return addr >= 0n && addr + BigInt(len) <= end;
}

export const hexAddr = (v: bigint | number) => `0x${v.toString(16)}`;
