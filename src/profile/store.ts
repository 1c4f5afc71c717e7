import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DumpFormat } from '../cpuid/parse.js';
import { parseDump } from '../cpuid/parse.js';
import type { Cpuid } from '../cpuid/records.js';
import type { HostProbe } from '../host/probe.js';
import { probeHost } from '../host/probe.js';
import { profilesDir } from '../io/paths.js';
import { InputError } from '../schema/errors.js';
import {
  PROFILE_FORMAT,
  type Profile,
  type ProfileFile,
  profileFromFile,
  profileFromJson,
} from './profile.js';

/** The leaves a profile keeps: vendor, the flags the kernel gates XSAVE features on, leaf 0xD, brand. */
const PROFILE_LEAVES = new Set([
  0x0, 0x1, 0x7, 0xd, 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004,
]);

export function profileRecords(cpuid: Cpuid): ProfileFile['cpuid'] {
  return cpuid.records.filter((r) => PROFILE_LEAVES.has(r.leaf));
}

export function builtinProfileNames(): string[] {
  return readdirSync(profilesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

function readJsonFile(path: string): unknown {
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(`${path}: not valid JSON (${(e as Error).message})`, { path });
  }
}

export function loadBuiltinProfile(name: string): Profile {
  const path = join(profilesDir, `${name}.json`);
  if (!existsSync(path)) {
    throw new InputError(
      `unknown profile '${name}'; shipped profiles: ${builtinProfileNames().join(', ')}, or 'host', or a file path`,
      {
        path: 'profile',
      },
    );
  }
  const p = profileFromJson(readJsonFile(path), `layouts/profiles/${name}.json`, 'shipped');
  if (p.name !== name)
    throw new InputError(`layouts/profiles/${name}.json: $.name is '${p.name}', expected '${name}'`);
  return p;
}

const SOURCE_KIND: Record<DumpFormat, ProfileFile['source']['kind']> = {
  json: 'json',
  'cpuid-r': 'cpuid-r',
  aida64: 'aida64',
};

/** Wraps a raw CPUID dump (any format parseDump reads) as a profile. */
export function profileFromDump(text: string, where: string): Profile {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    const value = (() => {
      try {
        return JSON.parse(text) as unknown;
      } catch (e) {
        throw new InputError(`${where}: not valid JSON (${(e as Error).message})`, { path: where });
      }
    })();
    if (
      typeof value === 'object' &&
      value !== null &&
      (value as { format?: unknown }).format === PROFILE_FORMAT
    ) {
      return profileFromJson(value, where);
    }
  }
  const dump = parseDump(text, where);
  const name = basename(where)
    .replace(/\.[^.]*$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return profileFromFile({
    format: PROFILE_FORMAT,
    name: name || 'dump',
    title: dump.cpuid.brand() ?? basename(where),
    source: {
      kind: SOURCE_KIND[dump.format],
      cite: where,
      ...(dump.warnings.length ? { notes: [...dump.warnings] } : {}),
    },
    cpuid: profileRecords(dump.cpuid),
  });
}

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
              basis: noSupervisor
                ? 'XGETBV(0) on the host; IA32_XSS is 0 because CPUID enumerates no supervisor components'
                : 'XGETBV(0) on the host; IA32_XSS is not readable from user space',
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

/**
 * Resolves a `--profile` argument: `host`, a shipped profile name, or a file holding a profile
 * or a raw CPUID dump.
 */
export function loadProfile(spec: string): Profile {
  if (spec === 'host') return hostProfile();
  if (builtinProfileNames().includes(spec)) return loadBuiltinProfile(spec);
  if (existsSync(spec)) return profileFromDump(readFileSync(spec, 'utf8'), spec);
  throw new InputError(
    `unknown profile '${spec}': not a shipped profile (${builtinProfileNames().join(', ')}), not 'host', and no such file`,
    { path: 'profile' },
  );
}
