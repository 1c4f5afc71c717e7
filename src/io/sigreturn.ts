import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { formatProfile, type Profile } from '../profile/profile.js';
import { type SigreturnExperiment, sigreturnSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { makeOutputDir, readInput, writeOutput } from './files.js';

/** The profile file a saved run sits next to (test/fixtures/sigreturn/*: host-profile.json). */
export const RUN_PROFILE = 'host-profile.json';
const RUN_FILES = ['x86_64.json', 'ia32.json'];
/** A run of a few hundred edits is ~1 MiB of JSON. */
const MAX_RUN_FILE = 64 << 20;

/** A saved native/sigreturn.c run (`sigframe sigreturn --save`, or test/fixtures/sigreturn). */
export function readSigreturnRun(path: string): SigreturnExperiment {
  const text = readInput(path, 'a saved sigreturn run (JSON)', MAX_RUN_FILE).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
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
  makeOutputDir(dir, 'the saved runs');
  writeOutput(join(dir, RUN_PROFILE), formatProfile(profile.file), 'the run profile');
  return runs.map((r) => {
    const file = join(dir, RUN_FILES[r.abi === 'x86_64' ? 0 : 1]!);
    writeOutput(file, r.text, 'a saved run');
    return file;
  });
}
