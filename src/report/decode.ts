import { frameKinds } from '../../layouts/frames.js';
import type { DecodedFrame } from '../frame/decode.js';
import { sigcontextOf } from '../frame/layout.js';
import { valueAt } from '../schema/value.js';

/**
 * `sigframe decode` for people: the parts of a decoded frame a table shows, found where the
 * frame kinds table says they are (the sigcontext's scalar members, the ucontext's flags and alt
 * stack, the siginfo header).
 */
export interface FrameSummary {
  readonly sigcontext: readonly (readonly [string, number | bigint])[];
  readonly ucontext?: {
    readonly uc_flags: number | bigint;
    readonly ss_sp: number | bigint;
    readonly ss_size: number | bigint;
    readonly ss_flags: number;
  };
  readonly siginfo?: { readonly si_signo: number; readonly si_code: number; readonly si_errno: number };
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
  const info = valueAt(f, 'info') as FrameSummary['siginfo'] | undefined;
  return {
    sigcontext,
    ...(uc ? { ucontext: { uc_flags: uc.uc_flags, ...uc.uc_stack } } : {}),
    ...(info ? { siginfo: { si_signo: info.si_signo, si_code: info.si_code, si_errno: info.si_errno } } : {}),
  };
}
