import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { profilesDir } from '../../layouts/paths.js';
import { hostProfile } from '../host/profile.js';
import { chooseKernel, type KernelChoice } from '../kernel/eras.js';
import { MAX_DUMP_TEXT, profileFromDump } from '../profile/dump.js';
import { formatProfile, type Profile, profileFromFile, profileFromJson } from '../profile/profile.js';
import { InputError } from '../schema/errors.js';
import { readInput } from './files.js';

export function builtinProfileNames(): string[] {
  return readdirSync(profilesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Profile and dump files: as much as the parser takes (src/profile/dump.ts). */
export const MAX_PROFILE_FILE = MAX_DUMP_TEXT;

function readText(path: string, what: string): string {
  return readInput(path, what, MAX_PROFILE_FILE).toString('utf8');
}

function readJsonFile(path: string): unknown {
  const text = readText(path, 'a profile (JSON)');
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

/**
 * Resolves a `--profile` argument: `host`, a shipped profile name, or a file holding a profile
 * or a raw CPUID dump. Every file, shipped or given, passes the consistency gate on the way in
 * (profileFromJson / profileFromDump → src/profile/checks.ts requireConsistent): CPUID that
 * contradicts itself is an InputError naming the file, the record and, in a dump, its line.
 */
export function loadProfile(spec: string): Profile {
  if (spec === 'host') return hostProfile();
  if (builtinProfileNames().includes(spec)) return loadBuiltinProfile(spec);
  if (existsSync(spec)) return profileFromDump(readText(spec, 'a profile or CPUID dump'), spec);
  throw new InputError(
    `unknown profile '${spec}': not a shipped profile (${builtinProfileNames().join(', ')}), not 'host', and no such file`,
    { path: 'profile' },
  );
}

/** A `--profile` argument resolved, with the kernel to reason about: `--kernel`, else the host's own, else the newest era. */
export function profileTarget(
  spec: string,
  kernel: string | undefined,
): { profile: Profile; kernel: KernelChoice } {
  const profile = loadProfile(spec);
  const hostKernel = profile.origin === 'host' ? profile.file.observed?.kernel : undefined;
  return { profile, kernel: chooseKernel(kernel, hostKernel) };
}

/**
 * Every profile or CPUID dump file in a directory (`size --all --profiles DIR`), by name order,
 * read one at a time as the caller iterates, so a fleet of any size takes one profile's memory,
 * each named by its file name. Hidden files and subdirectories are not read.
 */
export function* profilesInDir(dir: string): Generator<Profile> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.') && (e.isFile() || e.isSymbolicLink()))
      .map((e) => e.name)
      .sort();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(
      `${dir}: ${code === 'ENOTDIR' ? 'not a directory' : code === 'ENOENT' ? 'no such directory' : (e as Error).message} (expected a directory of profile or CPUID dump files)`,
      { path: dir },
    );
  }
  if (names.length === 0) throw new InputError(`${dir}: no profile or CPUID dump files in it`, { path: dir });
  // Named by file: in a fleet the file says which machine, and copies of one profile share a name.
  for (const n of names)
    yield { ...profileFromDump(readText(join(dir, n), 'a profile or CPUID dump'), join(dir, n)), name: n };
}

/** A raw CPUID dump file (any format the parser reads) as a profile; gated like loadProfile. */
export function profileFromDumpFile(path: string): Profile {
  return profileFromDump(readText(path, 'a CPUID dump'), path);
}

/** A profile's file text (sigframe-profile/1), under another name if one is given. */
export function profileText(p: Profile, name?: string): string {
  return formatProfile(name ? profileFromFile({ ...p.file, name }).file : p.file);
}
