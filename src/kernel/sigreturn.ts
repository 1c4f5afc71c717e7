import {
  type Descriptor,
  EFLAGS,
  FIX_EFLAGS,
  gdtLayouts,
  iretCompatLimit,
  MMAP_MIN_ADDR,
} from '../../layouts/segments.js';
import { K } from '../abi/constants.js';
import type { RestoreStep } from './fpu_signal.js';
import { hexAddr, userEnd } from './uaccess.js';

/**
 * What rt_sigreturn (and the legacy ia32 sigreturn) does with a frame's sigcontext, and what the
 * CPU then does on the way back to user mode: restore_sigcontext() (arch/x86/kernel/signal_64.c),
 * ia32_restore_sigcontext() (signal_32.c), the exit to user mode through IRET
 * (arch/x86/entry/entry_64.S; Intel SDM Vol. 2 IRET, "Operation", protected-mode return to outer
 * privilege level) and the first instructions after it. Linux 7.3.4; the same since 5.x.
 */

/** The user registers a frame's sigcontext gives back (what the verdict looks at). */
export interface SigcontextRegs {
  readonly ip: bigint;
  readonly sp: bigint;
  readonly flags: bigint;
  readonly cs: number;
  readonly ss: number;
  /** 32-bit frames only. */
  readonly ds?: number;
  readonly es?: number;
  readonly fs?: number;
  readonly gs?: number;
}

export type SegmentName = 'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs';

export interface ReturnToUser {
  readonly outcome: 'resumes' | 'sigsegv' | 'sigtrap';
  /** The exception behind a SIGSEGV: #GP from IRET or the first access, #PF from the first fetch or stack access. */
  readonly trap?: '#GP' | '#PF';
  /** Which first access raises the #PF: the instruction fetch at `regs.ip` or the stack access at `regs.sp`. */
  readonly fault?: 'fetch' | 'stack';
  readonly reason: string;
  /** The registers as the task resumes with them, after the kernel's fix-ups. */
  readonly regs: SigcontextRegs;
  /** The mode the task resumes in. */
  readonly mode: 64 | 32;
  readonly steps: readonly RestoreStep[];
  readonly notes: readonly string[];
}

const SIGNAL_64 = 'arch/x86/kernel/signal_64.c (Linux 7.3.4)';
const SIGNAL_32 = 'arch/x86/kernel/signal_32.c (Linux 7.3.4)';
const IRET = 'Intel SDM Vol. 2 IRET; arch/x86/entry/entry_64.S (Linux 7.3.4)';

/** The descriptor a selector names on the kernel's GDT: null, a GDT entry, or the LDT's. */
export function descriptorOf(selector: number, kernelBits: 64 | 32): Descriptor | 'null' | 'ldt' | 'none' {
  if ((selector & 4) !== 0) return 'ldt';
  const index = selector >> 3;
  if (index === 0) return 'null';
  return GDT[kernelBits][index] ?? 'none';
}

/** Each GDT as an array by index (undefined: no descriptor). */
const GDT = {
  64: gdtTable(64),
  32: gdtTable(32),
};
function gdtTable(bits: 64 | 32): (Descriptor | undefined)[] {
  const t: (Descriptor | undefined)[] = new Array(gdtLayouts[bits].gdtEntries).fill(undefined);
  for (const [i, d] of gdtLayouts[bits].entries) t[i] = d;
  return t;
}

const hex = (v: number | bigint) => hexAddr(v);

/**
 * The flags the task resumes with: FIX_EFLAGS from the frame, the rest as on every return to
 * user mode (IF set, IOPL 0, the always-one bit 1).
 */
export function restoredFlags(frameFlags: bigint): bigint {
  return (frameFlags & BigInt(FIX_EFLAGS)) | BigInt(EFLAGS.IF) | 2n;
}

/**
 * force_valid_ss() (signal_64.c): for 64-bit code without UC_STRICT_RESTORE_SS, an SS that LAR
 * does not find to be a present, DPL-3, writable data segment becomes __USER_DS — kept for old
 * DOSEMU and CRIU, which saved garbage there. Task-made descriptors (TLS, LDT) are taken to be
 * absent: sigframe cannot see them.
 */
export function forceValidSs(ss: number, kernelBits: 64 | 32): number {
  const d = descriptorOf(ss, kernelBits);
  return typeof d === 'object' && d.type === 'data' && d.writable ? ss : gdtLayouts[kernelBits].userDs;
}

export interface SigcontextInput {
  readonly regs: SigcontextRegs;
  /** uc_flags, read by 64-bit and x32 rt_sigreturn only. */
  readonly ucFlags?: bigint | undefined;
  readonly ia32: boolean;
  readonly kernelBits: 64 | 32;
}

/**
 * restore_sigcontext() / ia32_restore_sigcontext(): every selector gets RPL 3, flags outside
 * FIX_EFLAGS are the kernel's, SS may be fixed up (64-bit), and a 32-bit task's data segments
 * are reloaded — one the CPU refuses is loaded as null instead (the loadsegment() fix-up).
 */
export function restoreSigcontext(i: SigcontextInput, steps: RestoreStep[], notes: string[]): SigcontextRegs {
  const r = i.regs;
  const src = i.ia32 ? SIGNAL_32 : SIGNAL_64;
  // Field by field: V8 copies `{ ...r, k: v }` through its slow path, a µs each (see sigreturnVerdict).
  const fixed: SigcontextRegs = {
    ip: r.ip,
    sp: r.sp,
    flags: restoredFlags(r.flags),
    cs: r.cs | 3,
    ss: r.ss | 3,
  };
  if (fixed.cs !== r.cs || fixed.ss !== r.ss)
    steps.push({
      rule: 'restore_sigcontext',
      source: src,
      result: `RPL forced to 3: cs ${hex(fixed.cs)}, ss ${hex(fixed.ss)}`,
    });
  const dropped = r.flags & ~BigInt(FIX_EFLAGS) & ~(BigInt(EFLAGS.IF) | 2n);
  if (dropped !== 0n)
    notes.push(`flags bits ${hex(dropped)} (IOPL, NT, VM, …) are not taken from the frame (FIX_EFLAGS)`);
  if (!i.ia32) {
    const strict = ((i.ucFlags ?? 0n) & BigInt(K.UC_STRICT_RESTORE_SS)) !== 0n;
    if (!strict && fixed.cs === gdtLayouts[i.kernelBits].userCs) {
      const ss = forceValidSs(fixed.ss, i.kernelBits);
      steps.push({
        rule: 'force_valid_ss',
        source: SIGNAL_64,
        result:
          ss === fixed.ss
            ? `ss ${hex(ss)} is a valid data segment`
            : `ss ${hex(fixed.ss)} is not a valid data segment: replaced by __USER_DS ${hex(ss)}`,
      });
      return { ip: fixed.ip, sp: fixed.sp, flags: fixed.flags, cs: fixed.cs, ss };
    }
    if (!strict)
      notes.push('uc_flags lacks UC_STRICT_RESTORE_SS, but cs is not 64-bit user code: ss is not fixed up');
    return fixed;
  }
  // reload_segments() (IA32_EMULATION): each data segment register is loaded with the frame's
  // selector | 3 when it differs from the live one; a faulting load leaves the null selector.
  const out: Record<string, number> = {};
  for (const seg of ['gs', 'fs', 'ds', 'es'] as const) {
    const sel = (r[seg] ?? 0) | 3;
    const d = descriptorOf(sel, i.kernelBits);
    const loadable =
      d === 'null' ||
      (typeof d === 'object' &&
        (d.type === 'data' || (d.type === 'code' && d.readable) || d.type === 'task'));
    if (typeof d === 'object' && d.type === 'task')
      notes.push(`${seg} ${hex(sel)} selects ${d.what}: assumed present (the task installed it)`);
    out[seg] = loadable ? sel : 0;
    if (!loadable)
      steps.push({
        rule: 'reload_segments',
        source: SIGNAL_32,
        result: `${seg} ${hex(sel)} selects ${d === 'ldt' ? 'an LDT entry (none assumed)' : d === 'none' ? 'no descriptor' : 'a kernel descriptor'}: the load faults and ${seg} is null`,
      });
  }
  const { ip, sp, flags, cs, ss } = fixed;
  return { ip, sp, flags, cs, ss, ds: out.ds!, es: out.es!, fs: out.fs!, gs: out.gs! };
}

/** Canonical in 4-level paging: bits 63..47 all equal. */
export function canonical(addr: bigint): boolean {
  const top = addr >> 47n;
  return top === 0n || top === (1n << 17n) - 1n;
}

/**
 * The return to user mode and the first instructions after it: IRET checks CS (a present DPL-3
 * code segment), SS (a writable DPL-3 data segment; null is refused at CPL 3) and RIP (canonical,
 * within a 32-bit segment's limit — all of RIP or only EIP, as the CPU's vendor has it) and raises
 * #GP, which the kernel turns into SIGSEGV for the task; an IP or SP below mmap_min_addr or beyond
 * user space faults (#PF) at the first fetch or stack access; a null %ds at the first data access;
 * and TF traps after the first instruction. `vendor` is CPUID leaf 0's string.
 */
export function returnToUser(
  given: SigcontextRegs,
  ia32: boolean,
  kernelBits: 64 | 32,
  vendor: string | undefined,
): ReturnToUser {
  let regs = given;
  const steps: RestoreStep[] = [];
  const notes: string[] = [];
  const done = (o: Omit<ReturnToUser, 'regs' | 'steps' | 'notes' | 'mode'>, mode: 64 | 32): ReturnToUser => {
    steps.push({ rule: 'return to user mode', source: IRET, result: o.reason });
    const { outcome, trap, fault, reason } = o;
    return trap
      ? fault
        ? { outcome, trap, fault, reason, regs, mode, steps, notes }
        : { outcome, trap, reason, regs, mode, steps, notes }
      : { outcome, reason, regs, mode, steps, notes };
  };
  const cs = descriptorOf(regs.cs, kernelBits);
  const frameMode = ia32 ? 32 : 64;
  if (typeof cs !== 'object' || cs.type !== 'code')
    return done(
      {
        outcome: 'sigsegv',
        trap: '#GP',
        reason: `cs ${hex(regs.cs)} is not a user code segment (${describe(cs)}): IRET raises #GP`,
      },
      frameMode,
    );
  const mode = cs.bits;
  if (mode !== frameMode)
    notes.push(
      `cs ${hex(regs.cs)} is ${mode}-bit code: the ${frameMode}-bit task resumes in ${mode}-bit mode`,
    );
  const ss = descriptorOf(regs.ss, kernelBits);
  if (typeof ss !== 'object' || ss.type !== 'data' || !ss.writable)
    return done(
      {
        outcome: 'sigsegv',
        trap: '#GP',
        reason: `ss ${hex(regs.ss)} is not a writable user data segment (${describe(ss)}): IRET raises #GP`,
      },
      mode,
    );
  if (mode === 64 && !canonical(regs.ip))
    return done(
      { outcome: 'sigsegv', trap: '#GP', reason: `rip ${hex(regs.ip)} is not canonical: IRET raises #GP` },
      mode,
    );
  if (mode === 32 && regs.ip > 0xffffffffn) {
    const limit = vendor === undefined ? undefined : iretCompatLimit[vendor];
    if (limit?.checks !== 'eip') {
      if (!limit)
        notes.push(
          `the CPU's vendor (${vendor ?? 'unknown'}) is not in sigframe's IRET table: AMD's rule is assumed (Intel's IRET would resume at EIP ${hex(regs.ip & 0xffffffffn)})`,
        );
      return done(
        {
          outcome: 'sigsegv',
          trap: '#GP',
          reason: `rip ${hex(regs.ip)} is beyond the 4 GiB limit of 32-bit code: IRET raises #GP (${limit?.source ?? iretCompatLimit.AuthenticAMD!.source})`,
        },
        mode,
      );
    }
    steps.push({
      rule: 'return to 32-bit code',
      source: limit.source,
      result: `${vendor}'s IRET checks EIP only: RIP ${hex(regs.ip)} resumes at EIP ${hex(regs.ip & 0xffffffffn)}`,
    });
    regs = { ...regs, ip: regs.ip & 0xffffffffn };
  }
  const end = userEnd(mode, kernelBits);
  const mappable = (a: bigint) => a >= MMAP_MIN_ADDR && a < end;
  /** An address nothing can be mapped at: the first access through it raises #PF. */
  const unmapped = (name: 'ip' | 'sp', access: string) =>
    done(
      {
        outcome: 'sigsegv',
        trap: '#PF',
        fault: name === 'ip' ? 'fetch' : 'stack',
        reason: `${name} ${hex(regs[name])} is ${regs[name] < MMAP_MIN_ADDR ? 'below mmap_min_addr' : 'beyond user space'}: ${access} faults`,
      },
      mode,
    );
  if (!mappable(regs.ip)) return unmapped('ip', 'the first instruction fetch');
  if (ia32 && ((regs.ds ?? 0) & ~3) === 0)
    return done(
      {
        outcome: 'sigsegv',
        trap: '#GP',
        reason: 'ds is null: the first memory access through it raises #GP',
      },
      mode,
    );
  if (!mappable(regs.sp)) return unmapped('sp', 'the first stack access');
  if ((regs.flags & BigInt(EFLAGS.TF)) !== 0n)
    return done(
      { outcome: 'sigtrap', reason: 'flags has TF: the CPU traps after the first instruction (SIGTRAP)' },
      mode,
    );
  return done({ outcome: 'resumes', reason: `IRET returns to ${mode}-bit code at ${hex(regs.ip)}` }, mode);
}

function describe(d: ReturnType<typeof descriptorOf>): string {
  if (d === 'null') return 'the null selector';
  if (d === 'ldt') return 'an LDT entry; none assumed';
  if (d === 'none') return 'no descriptor';
  if (d.type === 'task') return `${d.what}, which sigframe cannot see`;
  if (d.type === 'kernel') return d.what;
  return d.type === 'code' ? `${d.bits}-bit code` : d.writable ? 'writable data' : 'read-only data';
}

/**
 * restore_altstack() (kernel/signal.c): rt_sigreturn hands uc_stack to do_sigaltstack() and
 * ignores every error but EFAULT — an edited uc_stack never fails the return.
 */
export function restoreAltstackNote(ssFlags: number): string {
  const mode = (ssFlags >>> 0) & ~K.SS_AUTODISARM;
  return mode !== 0 && mode !== K.SS_ONSTACK && mode !== K.SS_DISABLE
    ? `uc_stack.ss_flags 0x${(ssFlags >>> 0).toString(16)} is invalid: sigaltstack() fails with EINVAL, which restore_altstack() ignores`
    : 'uc_stack is handed to sigaltstack(); restore_altstack() ignores any error but EFAULT';
}
