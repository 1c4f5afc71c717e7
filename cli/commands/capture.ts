import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import type { GlobalArgs } from './common.js';

export const command = 'capture';
export const describe =
  'capture real signal frames from the running kernel (NAME.bin + NAME.json per scenario)';

export const builder = (y: Argv) =>
  y
    .option('out', {
      type: 'string',
      default: 'sigframe-capture',
      describe: 'directory to write the frames into',
    })
    .example(
      '$0 capture --out frames && $0 decode frames/x86_64-sigusr1-vectors.json',
      'capture, then read one back',
    );

type Args = ArgumentsCamelCase<GlobalArgs & { out: string }>;

export const handler = (argv: Args) =>
  run(async () => {
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
