import { type DataModelName, dataModels } from '../../layouts/abi.js';
import { compat_siginfo, siginfo } from '../../layouts/frames.js';
import {
  genericSiCodes,
  nsigLimits,
  type SiCodeName,
  type SiginfoLayoutName,
  type SignalName,
  siginfoLayouts,
  signalAliases,
  signalNumbers,
  signalSiCodes,
  sigSicodes,
} from '../../layouts/siginfo.js';
import type { DataModel } from '../schema/layout.js';
import { offsetOf } from '../schema/layout.js';
import type { StructNode } from '../schema/node.js';

/**
 * Which alternative of `_sifields` the kernel fills for a signal and si_code, and how it copies
 * siginfo out to each ABI: kernel/signal.c siginfo_layout(), copy_siginfo_to_user(),
 * copy_siginfo_to_external32(), and arch/x86/kernel/signal_64.c x32_copy_siginfo_to_user()
 * (Linux 6.18, read from a mirror of kernel/signal.c; the installed uapi headers are 6.1's).
 */

/** The three ways siginfo reaches a handler. */
export type SiginfoAbi = 'x86_64' | 'ia32' | 'x32';

/** sizeof(siginfo_t) and sizeof(compat_siginfo_t): SI_MAX_SIZE. */
export const SIGINFO_SIZE = 128;

const SIG = signalNumbers;
const SI = genericSiCodes;

/** sig_sicodes[] indexed by signal number, as kernel/signal.c declares it. */
const sicodesBySignal: ReadonlyMap<number, (typeof sigSicodes)[keyof typeof sigSicodes]> = new Map(
  Object.entries(sigSicodes).map(([name, entry]) => [SIG[name as keyof typeof sigSicodes], entry]),
);

/**
 * siginfo_layout(sig, si_code) for x86. Codes between SI_USER and SI_KERNEL are the signal's own
 * up to its NSIG* limit (then the exceptions: SIGBUS BUS_MCEERR_*, SIGSEGV SEGV_BNDERR and
 * SEGV_PKUERR, SIGTRAP TRAP_PERF); past the limit, or for a signal without codes of its own, the
 * codes 1..NSIGPOLL are SIGPOLL's; anything else positive is SIL_KILL. Of the rest, SI_TIMER is a
 * timer, SI_SIGIO a poll, other negative codes SIL_RT, and SI_USER / SI_KERNEL SIL_KILL.
 * SIL_FAULT_TRAPNO is SPARC's and Alpha's only: never on x86.
 */
export function siginfoLayout(signo: number, code: number): SiginfoLayoutName {
  let layout: SiginfoLayoutName = 'kill';
  if (code > SI.SI_USER && code < SI.SI_KERNEL) {
    // `sig` is unsigned in C, so a negative signo is past ARRAY_SIZE(sig_sicodes) like a big one.
    const entry = sicodesBySignal.get(signo);
    if (entry !== undefined && code <= entry.limit) {
      layout = entry.layout;
      if (
        signo === SIG.SIGBUS &&
        code >= signalSiCodes.SIGBUS.BUS_MCEERR_AR &&
        code <= signalSiCodes.SIGBUS.BUS_MCEERR_AO
      )
        layout = 'fault_mceerr';
      else if (signo === SIG.SIGSEGV && code === signalSiCodes.SIGSEGV.SEGV_BNDERR) layout = 'fault_bnderr';
      else if (signo === SIG.SIGSEGV && code === signalSiCodes.SIGSEGV.SEGV_PKUERR) layout = 'fault_pkuerr';
      else if (signo === SIG.SIGTRAP && code === signalSiCodes.SIGTRAP.TRAP_PERF) layout = 'fault_perf';
    } else if (code <= nsigLimits.NSIGPOLL) layout = 'poll';
  } else if (code === SI.SI_TIMER) layout = 'timer';
  else if (code === SI.SI_SIGIO) layout = 'poll';
  else if (code < 0) layout = 'rt';
  return layout;
}

/** How siginfo is laid out for an ABI: the header struct, where `_sifields` starts, the data model. */
export interface SiginfoFormat {
  /** The 128-byte struct: the native siginfo (x86-64) or compat_siginfo_t (ia32, x32). */
  readonly header: StructNode;
  /** Data model the `_sifields` alternatives are laid out under. */
  readonly model: DataModel;
  /** offsetof(_sifields): 16 natively (the union holds pointers), 12 in compat_siginfo_t. */
  readonly base: number;
}

const formatModel: Record<SiginfoAbi, DataModelName> = { x86_64: 'lp64', ia32: 'ilp32', x32: 'ilp32' };

/**
 * x86-64 handlers get the kernel's siginfo as is (copy_siginfo_to_user: kernel_siginfo, then the
 * rest of the 128 bytes cleared); ia32 and x32 handlers get compat_siginfo_t, rebuilt member by
 * member from a cleared buffer (copy_siginfo_to_external32) — every compat type 32 bits wide, so
 * the alternatives are laid out as ILP32 lays them out, for x32 too.
 */
export function siginfoFormat(abi: SiginfoAbi): SiginfoFormat {
  return formats[abi];
}

const formatOf = (abi: SiginfoAbi): SiginfoFormat => {
  const header = abi === 'x86_64' ? siginfo : compat_siginfo;
  const model = dataModels[formatModel[abi]];
  return { header, model, base: offsetOf(header, model, '_sifields') };
};
const formats: Record<SiginfoAbi, SiginfoFormat> = {
  x86_64: formatOf('x86_64'),
  ia32: formatOf('ia32'),
  x32: formatOf('x32'),
};

/**
 * The struct the kernel writes over `_sifields` for this ABI: the layout's, except for SIGCHLD
 * children's times in x32 frames — x32_copy_siginfo_to_user() stores si_utime and si_stime as
 * compat_s64 (_sigchld_x32) whenever si_signo is SIGCHLD. (For a SIGCHLD with another layout,
 * e.g. from kill(), it stores the kernel siginfo's zero times into bytes that layout does not use.)
 */
export function siginfoFields(layout: SiginfoLayoutName, abi: SiginfoAbi): StructNode {
  const l = siginfoLayouts[layout];
  return abi === 'x32' && 'x32' in l ? l.x32 : l.fields;
}

const signalByNumber = new Map<number, SignalName>(
  Object.entries(SIG).map(([name, n]) => [n, name as SignalName]),
);

/** The x86 name of signal 1..31, or null (0, real-time signals, out of range). */
export function signalName(signo: number): SignalName | null {
  return signalByNumber.get(signo) ?? null;
}

/** A signal's number from its name (SIGSEGV, SIGPOLL, …), or undefined. */
export function signalNumber(name: string): number | undefined {
  const canonical = (signalAliases as Record<string, SignalName>)[name] ?? name;
  return (SIG as Record<string, number>)[canonical];
}

/** The signal-specific code table that applies to `signo`: its own, POLL_* for the others. */
function codeTable(signo: number): Readonly<Record<string, number>> {
  const name = signalName(signo);
  return name !== null && name in signalSiCodes
    ? signalSiCodes[name as keyof typeof signalSiCodes]
    : signalSiCodes.SIGIO;
}

/**
 * The name of si_code for `signo`: the SI_* names for user-space and kernel-generic codes, else the
 * signal's own codes (POLL_* for signals without codes of their own, as the header says); null for
 * a code no table names (past a signal's NSIG* limit, ptrace's (event << 8) | SIGTRAP codes).
 */
export function siCodeName(signo: number, code: number): SiCodeName | null {
  const table = code <= SI.SI_USER || code >= SI.SI_KERNEL ? SI : codeTable(signo);
  return namesOf(table).get(code) ?? null;
}

/** Each code table by value, the first name for a value winning (as a search of the table would). */
const codeNames = new Map<object, Map<number, SiCodeName>>();
function namesOf(table: Readonly<Record<string, number>>): Map<number, SiCodeName> {
  let names = codeNames.get(table);
  if (!names) {
    names = new Map();
    for (const [name, v] of Object.entries(table)) if (!names.has(v)) names.set(v, name as SiCodeName);
    codeNames.set(table, names);
  }
  return names;
}

/**
 * The value of a code name for `signo`, or a reason it does not apply: SI_* fit any signal; a
 * signal-specific name must be one of that signal's codes (SEGV_MAPERR is 1 only for SIGSEGV).
 */
export function siCodeValue(signo: number, name: string): number | string {
  if (name in SI) return SI[name as keyof typeof SI];
  const own = codeTable(signo);
  if (name in own) return own[name]!;
  const owner = Object.entries(signalSiCodes).find(([, table]) => name in table)?.[0];
  if (owner === undefined) return `${name} is not an si_code name`;
  const sig = signalName(signo);
  return `${name} is a ${owner} code, not one of ${sig ?? `signal ${signo}`}'s`;
}
