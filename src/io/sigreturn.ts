import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { K } from '../abi/constants.js';
import { formatProfile, type Profile } from '../profile/profile.js';
import { type SigreturnExperiment, sigreturnSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { makeOutputDir, readInput, writeOutput } from './files.js';
import { loadFrame } from './frames.js';

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

/**
 * The XSAVE image of a captured x86_64 frame — from buf_fx through its MAGIC2 — for the
 * sigreturn experiment's "transplant" edit: another CPU's image given to this kernel's
 * rt_sigreturn.
 */
export function transplantImage(path: string): Uint8Array {
  const { decoded, capture } = loadFrame(path);
  if (!capture)
    throw new InputError(`${path}: --transplant takes a capture (NAME.json beside NAME.bin)`, { path });
  const where = `${path}: --transplant`;
  if (capture.info.kind !== 'x86_64' || decoded.buf_fx === null)
    throw new InputError(
      `${where} needs an x86_64 frame with an FP image (${capture.info.kind}, fpstate ${decoded.fpstate})`,
      {
        path,
      },
    );
  const size = decoded.sw_reserved?.magic1 === K.FP_XSTATE_MAGIC1 ? decoded.sw_reserved.xstate_size + 4 : 512;
  const at = Number(decoded.buf_fx - capture.memory.address);
  if (at < 0 || at + size > capture.memory.bytes.length)
    throw new InputError(
      `${where}: the image (${size} bytes at offset ${at}) runs past the capture's ${capture.memory.bytes.length} bytes`,
      {
        path,
      },
    );
  return capture.memory.bytes.slice(at, at + size);
}
