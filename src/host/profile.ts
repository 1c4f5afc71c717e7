import { profileRecords } from '../profile/dump.js';
import { PROFILE_FORMAT, type Profile, profileFromFile } from '../profile/profile.js';
import { type HostProbe, probeHost } from './probe.js';

/** The host as a profile: CPUID and XCR0 measured by the probe. */
export function profileFromProbe(probe: HostProbe): Profile {
  const noSupervisor = (probe.cpuid.get(0xd, 1)?.ecx ?? 0) === 0 && (probe.cpuid.get(0xd, 1)?.edx ?? 0) === 0;
  return profileFromFile(
    {
      format: PROFILE_FORMAT,
      name: 'host',
      title: probe.cpuid.brand() ?? 'this host',
      source: { kind: 'probe', cite: `native/probe.c on Linux ${probe.release}` },
      ...(probe.xcr0 === undefined
        ? {}
        : {
            capture: {
              os: `Linux ${probe.release}`,
              xcr0: probe.xcr0,
              ...(noSupervisor ? { xss: 0n } : {}),
              ...(probe.mxcsrMask === undefined ? {} : { mxcsr_mask: probe.mxcsrMask }),
              basis: `XGETBV(0) on the host; ${
                noSupervisor
                  ? 'IA32_XSS is 0 because CPUID enumerates no supervisor components'
                  : 'IA32_XSS is not readable from user space'
              }; MXCSR_MASK from FXSAVE`,
            },
          }),
      observed: {
        kernel: probe.release,
        ...(probe.atMinsigstksz === undefined ? {} : { at_minsigstksz: probe.atMinsigstksz }),
        ...(probe.xcompSupp === undefined ? {} : { xcomp_supp: probe.xcompSupp }),
        basis: 'getauxval(AT_MINSIGSTKSZ) and arch_prctl(ARCH_GET_XCOMP_SUPP) on the host',
      },
      cpuid: profileRecords(probe.cpuid),
    },
    'host',
  );
}

export function hostProfile(): Profile {
  return profileFromProbe(probeHost());
}
