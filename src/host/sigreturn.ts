import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SigreturnExperiment, sigreturnSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

export type { SigreturnExperiment };

/**
 * Runs native/sigreturn.c as a 64-bit process (x86_64 frames) or a 32-bit one (ia32 rt and
 * legacy frames, whose restore path is another): what the running kernel did with each edit.
 */
export function runSigreturnExperiment(
  abi: 'x86_64' | 'ia32' = 'x86_64',
  o: { transplant?: Uint8Array } = {},
): SigreturnExperiment {
  return runSigreturnExperimentText(abi, o).experiment;
}

/**
 * The run, and its output as printed (what `sigframe sigreturn --save` keeps). `transplant`:
 * another frame's XSAVE image (transplantImage()), which the 64-bit run also puts in place of its
 * own frame's (the "transplant" edit).
 */
export function runSigreturnExperimentText(
  abi: 'x86_64' | 'ia32',
  o: { transplant?: Uint8Array } = {},
): {
  experiment: SigreturnExperiment;
  text: string;
} {
  assertX86Linux('running sigreturn experiments');
  const binary = nativeHelper('sigreturn', abi === 'ia32' ? ['-m32', '-no-pie'] : ['-m64']);
  let text: string;
  if (o.transplant && abi === 'x86_64') {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-transplant-'));
    try {
      const image = join(dir, 'image.bin');
      writeFileSync(image, o.transplant);
      text = runHelper(binary, [image]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else text = runHelper(binary);
  return { experiment: parseSigreturnExperiment(text, 'native/sigreturn.c'), text };
}

function parseSigreturnExperiment(text: string, where: string): SigreturnExperiment {
  try {
    return sigreturnSchema.parse(JSON.parse(text), 'sigreturn');
  } catch (e) {
    if (e instanceof InputError || e instanceof SyntaxError)
      throw new HostError(`unexpected output from ${where}: ${e.message}`);
    throw e;
  }
}
