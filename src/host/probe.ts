import { recordsFromJson } from '../cpuid/parse.js';
import { Cpuid } from '../cpuid/records.js';
import { InputError } from '../schema/errors.js';
import { j } from '../schema/json.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

/** What native/probe.c reports about this machine. */
export interface HostProbe {
  readonly cpuid: Cpuid;
  readonly xcr0: bigint | undefined;
  readonly xinuse: bigint | undefined;
  readonly atMinsigstksz: number | undefined;
  readonly xcompSupp: bigint | undefined;
  readonly xcompPerm: bigint | undefined;
  readonly release: string;
}

const probeSchema = j.object({
  format: j.literal('sigframe-probe/1'),
  cpuid: j.array(j.array(j.u32())),
  xcr0: j.optional(j.nullable(j.u64())),
  xinuse: j.optional(j.nullable(j.u64())),
  at_minsigstksz: j.optional(j.nullable(j.int())),
  xcomp_supp: j.optional(j.nullable(j.u64())),
  xcomp_supp_errno: j.optional(j.int()),
  xcomp_perm: j.optional(j.nullable(j.u64())),
  xcomp_perm_errno: j.optional(j.int()),
  release: j.string(),
  machine: j.string(),
});

export function parseProbeOutput(text: string): HostProbe {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new HostError(`probe printed something that is not JSON: ${(e as Error).message}`);
  }
  try {
    const p = probeSchema.parse(raw, 'probe');
    return {
      cpuid: new Cpuid(recordsFromJson(p.cpuid, 'probe.cpuid')),
      xcr0: p.xcr0 ?? undefined,
      xinuse: p.xinuse ?? undefined,
      atMinsigstksz: p.at_minsigstksz ?? undefined,
      xcompSupp: p.xcomp_supp ?? undefined,
      xcompPerm: p.xcomp_perm ?? undefined,
      release: p.release,
    };
  } catch (e) {
    if (e instanceof InputError) throw new HostError(`unexpected probe output: ${e.message}`);
    throw e;
  }
}

let cached: HostProbe | undefined;

/** Runs the probe once per process (CPUID does not change under us). */
export function probeHost(): HostProbe {
  if (!cached) {
    assertX86Linux('reading the host CPU');
    cached = parseProbeOutput(runHelper(nativeHelper('probe')));
  }
  return cached;
}
