import { frameKinds } from '../../layouts/frames.js';
import type { DecodedFrame } from '../frame/decode.js';
import { sigcontextOf } from '../frame/layout.js';
import type { DecodedSiginfo } from '../frame/siginfo.js';
import { valueAt } from '../schema/value.js';

/**
 * `sigframe decode` for people: the parts of a decoded frame a table shows, found where the
 * frame kinds table says they are (the sigcontext's scalar members, the ucontext's flags and alt
 * stack, and the siginfo in one line).
 */
export interface FrameSummary {
  readonly sigcontext: readonly (readonly [string, number | bigint])[];
  readonly ucontext?: {
    readonly uc_flags: number | bigint;
    readonly ss_sp: number | bigint;
    readonly ss_size: number | bigint;
    readonly ss_flags: number;
  };
}

const SIGINFO_HEAD = new Set(['si_signo', 'si_errno', 'si_code', 'signal', 'code', 'layout']);

/** A decoded siginfo in one line, as gdb's $_siginfo reads: the signal, si_code's name, the layout's members. */
export function siginfoText(s: DecodedSiginfo): string {
  const members = Object.entries(s)
    .filter(([k]) => !SIGINFO_HEAD.has(k))
    .map(([k, v]) => `${k} ${typeof v === 'bigint' ? `0x${v.toString(16)}` : String(v)}`);
  const code = s.code ?? `si_code ${s.si_code}`;
  return `siginfo ${s.signal ?? `signal ${s.si_signo}`} ${code}${s.si_errno ? ` errno ${s.si_errno}` : ''}${members.length ? `: ${members.join(', ')}` : ''}`;
}

export function frameSummary(d: DecodedFrame): FrameSummary {
  const f = d.state.frame;
  const kind = frameKinds[d.state.kind];
  const sigcontext = Object.entries(sigcontextOf(f, d.state.kind)).filter(
    (e): e is [string, number | bigint] => typeof e[1] === 'number' || typeof e[1] === 'bigint',
  );
  const uc =
    kind.ucontext === null
      ? undefined
      : (valueAt(f, kind.ucontext) as {
          uc_flags: number | bigint;
          uc_stack: { ss_sp: number | bigint; ss_size: number | bigint; ss_flags: number };
        });
  return {
    sigcontext,
    ...(uc ? { ucontext: { uc_flags: uc.uc_flags, ...uc.uc_stack } } : {}),
  };
}
