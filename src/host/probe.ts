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
  /** FXSAVE's MXCSR_MASK: the MXCSR bits this CPU accepts. */
  readonly mxcsrMask: number | undefined;
  readonly atMinsigstksz: number | undefined;
  readonly xcompSupp: bigint | undefined;
  readonly xcompPerm: bigint | undefined;
  /** `int $0x80` reached the 32-bit system call table: IA32 emulation is on. */
  readonly ia32Syscall: boolean | undefined;
  /** The hypervisor's CPUID vendor signature (leaf 0x40000000), when one says it is there. */
  readonly hypervisor: string | undefined;
  /** gnu_get_libc_version() of the probe, linked as any program built here; undefined on musl. */
  readonly glibc: string | undefined;
  readonly release: string;
}

const probeSchema = j.object({
  format: j.literal('sigframe-probe/1'),
  cpuid: j.array(j.array(j.u32())),
  xcr0: j.optional(j.nullable(j.u64())),
  xinuse: j.optional(j.nullable(j.u64())),
  mxcsr_mask: j.optional(j.u32()),
  at_minsigstksz: j.optional(j.nullable(j.int())),
  xcomp_supp: j.optional(j.nullable(j.u64())),
  xcomp_supp_errno: j.optional(j.int()),
  xcomp_perm: j.optional(j.nullable(j.u64())),
  xcomp_perm_errno: j.optional(j.int()),
  ia32_syscall: j.optional(j.nullable(j.boolean())),
  glibc: j.optional(j.string()),
  hypervisor: j.optional(j.string()),
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
      mxcsrMask: p.mxcsr_mask,
      atMinsigstksz: p.at_minsigstksz ?? undefined,
      xcompSupp: p.xcomp_supp ?? undefined,
      xcompPerm: p.xcomp_perm ?? undefined,
      ia32Syscall: p.ia32_syscall ?? undefined,
      glibc: p.glibc,
      hypervisor: p.hypervisor?.replace(/\0+$/, ''),
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

/**
 * CPUs whose instructions a program emulates rather than executes: their XSAVE writes what the
 * emulator chose (QEMU's TCG keeps no XINUSE and skips reserved bytes of the image), so results
 * about instruction semantics from them are the emulator's, not the hardware's. The kernel's own
 * arithmetic — sizes, placement, sw_reserved — is still the real kernel's.
 */
const EMULATORS: Record<string, string> = { TCGTCGTCGTCG: 'QEMU TCG' };

export function emulatedCpu(probe: HostProbe = probeHost()): string | undefined {
  return probe.hypervisor === undefined ? undefined : EMULATORS[probe.hypervisor];
}
