import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatProfile, type Profile } from '../profile/profile.js';
import { type SigreturnExperiment, sigreturnSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';

/** The profile file a saved run sits next to (test/fixtures/sigreturn/*: host-profile.json). */
export const RUN_PROFILE = 'host-profile.json';
const RUN_FILES = ['x86_64.json', 'ia32.json'];

/** A saved native/sigreturn.c run (`sigframe sigreturn --save`, or test/fixtures/sigreturn). */
export function readSigreturnRun(path: string): SigreturnExperiment {
  if (!existsSync(path)) throw new InputError(`${path}: no such file`, { path });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InputError(`${path}: not JSON (${(e as Error).message})`, { path });
  }
  return sigreturnSchema.parse(raw, path);
}

/** Run files as given, a directory standing for the runs saved in it. */
export function sigreturnRunFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    if (!existsSync(p) || !statSync(p).isDirectory()) return [p];
    const files = RUN_FILES.map((f) => join(p, f)).filter((f) => existsSync(f));
    if (files.length === 0) throw new InputError(`${p}: no ${RUN_FILES.join(' or ')} in it`, { path: p });
    return files;
  });
}

/** The profile saved beside a run, if there is one. */
export function runProfilePath(run: string): string | undefined {
  const p = join(dirname(run), RUN_PROFILE);
  return existsSync(p) ? p : undefined;
}

/** Writes runs as `x86_64.json` / `ia32.json` with the CPU's profile beside them. */
export function saveSigreturnRuns(
  dir: string,
  runs: readonly { abi: 'x86_64' | 'ia32'; text: string }[],
  profile: Profile,
): string[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, RUN_PROFILE), formatProfile(profile.file));
  return runs.map((r) => {
    const file = join(dir, RUN_FILES[r.abi === 'x86_64' ? 0 : 1]!);
    writeFileSync(file, r.text);
    return file;
  });
}
