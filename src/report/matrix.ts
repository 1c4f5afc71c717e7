import { cpuidFields } from '../../layouts/cpuid.js';
import { kernelEras } from '../../layouts/kernels.js';
import { chooseKernel } from '../kernel/eras.js';
import type { Profile } from '../profile/profile.js';
import { SigframeError } from '../schema/errors.js';
import { checkTargetConfig, type SizeSummary, type SizeTarget, sizeSummary } from './size.js';

/** One line of `sigframe size --all`. */
export interface MatrixRow {
  readonly profile: string;
  readonly era: string;
  readonly amx: string;
  readonly max_size: number | null;
  readonly at_minsigstksz: number | null;
  readonly user_size: number | null;
  readonly bytes_below_top: number | null;
  readonly min_altstack: number | null;
  readonly min_altstack_worst: number | null;
  readonly sigaltstack_min_accepted: number | null;
  readonly glibc_sc_sigstksz: number | null;
  readonly error?: string;
}

/**
 * What the sizing model reads of a profile, as a key: the CPUID fields it reads by id
 * (layouts/cpuid.ts), every leaf 0xD record (the XSAVE enumeration and its consistency gate) and
 * the capture's XCR0/XSS the gate checks EBX against. Dumps of one CPU model from many machines
 * differ elsewhere (APIC IDs, serials, cache leaves) and share their sizing.
 */
function sizingKey(p: Profile): string {
  const fields = cpuidFields
    .filter((f) => f.subleaf !== 'n' && f.leaf !== 0xd)
    .map((f) => p.cpuid.field(f.id) ?? '-')
    .join(',');
  const leafD = p.cpuid.records
    .filter((r) => r.leaf === 0xd)
    .map((r) => `${r.subleaf}:${r.eax}:${r.ebx}:${r.ecx}:${r.edx}`)
    .join(';');
  const c = p.file.capture;
  return `${p.origin}|${c ? `${c.xcr0}:${c.xss ?? '-'}` : '-'}|${fields}|${leafD}`;
}

/** Every profile given × kernel era × possible AMX state, for one frame kind and kernel configuration. */
export function sizeMatrix(target: SizeTarget, profiles: Iterable<Profile>): MatrixRow[] {
  checkTargetConfig(target);
  const rows: MatrixRow[] = [];
  const kernels = kernelEras.map((era) => ({ ...chooseKernel(era.since), label: `Linux ${era.label}` }));
  // A fleet repeats its CPU models: the figures depend on what sizingKey() holds alone, so each
  // is sized once per era, then named after every profile that has it. A refusal names its file,
  // so it is not shared.
  const byKey = new Map<string, (SizeSummary | SigframeError)[]>();
  const summaries = (profile: Profile) => {
    const key = sizingKey(profile);
    const known = byKey.get(key);
    if (known && !known.some((r) => r instanceof SigframeError)) return known;
    const s = kernels.map((kernel) => {
      try {
        return sizeSummary(profile, kernel, target);
      } catch (e) {
        if (!(e instanceof SigframeError)) throw e;
        return e;
      }
    });
    byKey.set(key, s);
    return s;
  };
  for (const profile of profiles) {
    const name = profile.name;
    const all = summaries(profile);
    for (const [i, era] of kernelEras.entries()) {
      try {
        const r = all[i]!;
        if (r instanceof SigframeError) throw r;
        for (const st of r.states) {
          rows.push({
            profile: name,
            era: era.label,
            amx: st.amx,
            max_size: r.max_size,
            at_minsigstksz: r.at_minsigstksz,
            user_size: st.user_size,
            bytes_below_top: st.bytes_below_top,
            min_altstack: st.min_altstack,
            min_altstack_worst: st.min_altstack_worst,
            sigaltstack_min_accepted: st.sigaltstack_min_accepted,
            glibc_sc_sigstksz: st.glibc_sc_sigstksz,
          });
        }
      } catch (e) {
        if (!(e instanceof SigframeError)) throw e;
        rows.push({
          profile: name,
          era: era.label,
          amx: '—',
          max_size: null,
          at_minsigstksz: null,
          user_size: null,
          bytes_below_top: null,
          min_altstack: null,
          min_altstack_worst: null,
          sigaltstack_min_accepted: null,
          glibc_sc_sigstksz: null,
          error: e.message,
        });
      }
    }
  }
  return rows;
}
