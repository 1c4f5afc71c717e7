import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import type { KernelEra } from '../../layouts/kernels.js';
import { XFEATURE } from '../../layouts/xfeatures.js';
import {
  type DeliveryOutcome,
  getSigframe,
  type PermResult,
  requestXcompPerm,
  sigaltstackMinAccepted,
} from './signal.js';
import { type AmxState, dynamicXfeatures, taskFpu } from './task.js';
import type { KernelConfig, KernelXfeatures } from './xstate.js';

/**
 * A process under the AMX rules of the design mail (../shared/seed/, Len Brown, 2021-05-25) as
 * Linux implements them (arch/x86/kernel/fpu/xstate.c, core.c; kernel/signal.c): permission is
 * per process, irrevocable, inherited by fork and dropped by exec; a thread's first tile
 * instruction without permission gets SIGILL, with permission it enlarges that thread's fpstate;
 * sigaltstack() and the permission request check alt stack sizes against the frame. Built only
 * from the kernel model's functions, so a model-based test can drive it step by step.
 */
export interface ThreadState {
  /** sigaltstack size; 0 = none. */
  altstack: number;
  usedAmx: boolean;
}

export type UseResult = 'ok' | 'SIGILL';

export interface Delivery {
  readonly outcome: DeliveryOutcome;
  /** Bytes the frame takes below the alt stack top. */
  readonly bytes: number;
}

export class AmxProcess {
  permitted = false;
  threads: ThreadState[] = [{ altstack: 0, usedAmx: false }];

  constructor(
    readonly k: KernelXfeatures,
    readonly era: KernelEra,
    readonly config: KernelConfig,
    readonly kind: FrameKindName = 'x86_64',
  ) {}

  private amxOf(t: ThreadState): AmxState {
    return t.usedAmx ? 'used' : this.permitted ? 'permitted' : 'none';
  }

  private task(t: ThreadState) {
    return taskFpu(this.k, this.era, this.config, frameKinds[this.kind].abi, this.amxOf(t));
  }

  /** clone(CLONE_THREAD): a new thread without an alt stack and without AMX use. */
  newThread(): number {
    this.threads.push({ altstack: 0, usedAmx: false });
    return this.threads.length - 1;
  }

  /** sigaltstack(): 0 or ENOMEM. */
  sigaltstack(tid: number, size: number): 0 | 'ENOMEM' {
    const t = this.threads[tid]!;
    const rule = sigaltstackMinAccepted(this.k, this.era, this.config, this.task(t));
    if (size < rule.minAccepted) return 'ENOMEM';
    t.altstack = size;
    return 0;
  }

  /** arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE.XTILE_DATA). */
  requestPermission(): PermResult {
    const r = requestXcompPerm(
      this.k,
      this.era,
      this.config,
      XFEATURE.XTILE_DATA,
      this.threads.map((t) => t.altstack),
      this.permitted,
    );
    if (r.result === 0) this.permitted = true;
    return r.result;
  }

  /** A tile instruction in thread `tid`: XFD #NM, then SIGILL or a larger fpstate. */
  useAmx(tid: number): UseResult {
    const t = this.threads[tid]!;
    if (dynamicXfeatures(this.k, this.era) === 0n || !this.permitted) return 'SIGILL';
    t.usedAmx = true;
    return 'ok';
  }

  /** A signal for thread `tid`, on its alt stack, with the top at a page boundary plus `residue`. */
  deliver(tid: number, residue = 0): Delivery {
    const t = this.threads[tid]!;
    const top = (1n << 32n) + BigInt(residue);
    const altstack = t.altstack > 0 ? { sp: top - BigInt(t.altstack), size: BigInt(t.altstack) } : undefined;
    const sp = 0x7ff0_0000_0000n;
    const p = getSigframe(
      frameKinds[this.kind],
      { sp, onstack: true, ...(altstack ? { altstack } : {}) },
      this.task(t),
      this.k,
      this.era,
      this.config,
    );
    return {
      outcome: p.outcome,
      bytes: Number((altstack ? top : sp - BigInt(frameKinds[this.kind].redZone)) - p.frame),
    };
  }

  /** fork(): the child has one thread (a copy of the caller) and inherits the permission. */
  fork(tid: number): AmxProcess {
    const child = new AmxProcess(this.k, this.era, this.config, this.kind);
    child.permitted = this.permitted;
    child.threads = [{ ...this.threads[tid]! }];
    return child;
  }

  /** execve(): permission, AMX state and alt stacks are gone; one thread remains. */
  exec(): void {
    this.permitted = false;
    this.threads = [{ altstack: 0, usedAmx: false }];
  }
}
