import { spawnSync } from 'node:child_process';

/**
 * What the kernel printed about its XSAVE setup at boot (arch/x86/kernel/fpu/xstate.c,
 * arch/x86/kernel/signal.c). Those lines are the kernel's own computation, so they are ground
 * truth for sigframe's model on the machine that printed them.
 */
export interface FpuBootLog {
  /** `x86/fpu: Supporting XSAVE feature 0x…: '…'` */
  readonly features: readonly { readonly mask: bigint; readonly name: string }[];
  /** `x86/fpu: xstate_offset[n]: …, xstate_sizes[n]: …` (in the kernel's buffer format). */
  readonly offsets: readonly { readonly nr: number; readonly offset: number; readonly size: number }[];
  /** `x86/fpu: Enabled xstate features 0x…, context size is N bytes, using '…' format.` */
  readonly enabled?: {
    readonly mask: bigint;
    readonly size: number;
    readonly format: 'standard' | 'compacted';
  };
  /** `signal: max sigframe size: N` */
  readonly maxSigframeSize?: number;
}

export function parseFpuBootLog(text: string): FpuBootLog {
  const features: { mask: bigint; name: string }[] = [];
  const offsets: { nr: number; offset: number; size: number }[] = [];
  let enabled: FpuBootLog['enabled'];
  let maxSigframeSize: number | undefined;
  for (const line of text.split('\n')) {
    let m = /x86\/fpu: Supporting XSAVE feature (0x[0-9a-f]+): '([^']*)'/.exec(line);
    if (m) features.push({ mask: BigInt(m[1]!), name: m[2]! });
    m = /x86\/fpu: xstate_offset\[(\d+)\]:\s*(\d+), xstate_sizes\[\d+\]:\s*(\d+)/.exec(line);
    if (m) offsets.push({ nr: Number(m[1]), offset: Number(m[2]), size: Number(m[3]) });
    m =
      /x86\/fpu: Enabled xstate features (0x[0-9a-f]+), context size is (\d+) bytes, using '(standard|compacted)' format/.exec(
        line,
      );
    if (m) enabled = { mask: BigInt(m[1]!), size: Number(m[2]), format: m[3] as 'standard' | 'compacted' };
    m = /signal: max sigframe size: (\d+)/.exec(line);
    if (m) maxSigframeSize = Number(m[1]);
  }
  return {
    features,
    offsets,
    ...(enabled ? { enabled } : {}),
    ...(maxSigframeSize === undefined ? {} : { maxSigframeSize }),
  };
}

/** The kernel log, or undefined where it cannot be read (dmesg_restrict, no dmesg binary). */
export function readKernelLog(): string | undefined {
  const r = spawnSync('dmesg', [], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0 || !r.stdout) return undefined;
  return r.stdout;
}
