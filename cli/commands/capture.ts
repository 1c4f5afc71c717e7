import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import { type Example, type GlobalArgs, withExamples } from './common.js';

export const command = 'capture';
export const describe =
  'capture real signal frames from the running kernel (NAME.bin + NAME.json per scenario)';

export const examples = [
  [
    ['sigframe capture --out frames', 'sigframe decode frames/x86_64-sigusr1-vectors.json'],
    'capture, then read one back',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(y, examples).option('out', {
    type: 'string',
    requiresArg: true,
    default: 'sigframe-capture',
    describe: 'directory to write the frames into',
  });

type Args = ArgumentsCamelCase<GlobalArgs & { out: string }>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { captureHostFrames } = await import('../../src/host/capture.js');
    const { makeOutputDir } = await import('../../src/io/files.js');
    makeOutputDir(argv.out, 'the captures (--out)');
    const r = captureHostFrames(argv.out);
    if (argv.json) print(toJson(r));
    else {
      print(`${r.scenarios.length} frames in ${r.dir}/:`);
      for (const s of r.scenarios) print(`  ${s}.bin  ${s}.json`);
      for (const s of r.skipped) print(`not captured: ${s}`);
    }
    return EXIT_OK;
  });
