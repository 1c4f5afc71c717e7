import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import { type Example, type GlobalArgs, withExamples } from './common.js';

export const command = 'gen <language>';
export const describe = 'generate the sizing model for other programs: sigframe.h, a C99 header';

export const examples = [
  ['sigframe gen c --out include', 'write include/sigframe.h'],
  ['sigframe gen c > sigframe.h', 'the header on stdout'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(y, examples)
    .positional('language', {
      choices: ['c'] as const,
      describe: 'c: sigframe.h (C99; C++, Rust, Go and Zig reach it through their C interfaces)',
    })
    .option('out', {
      type: 'string',
      requiresArg: true,
      describe: 'write the header into this folder (created if missing) instead of to stdout',
    });

type Args = ArgumentsCamelCase<GlobalArgs & { language?: 'c'; out?: string }>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { cHeader, C_HEADER_FILE, cFunctions } = await import('../../src/gen/c.js');
    const text = cHeader();
    const facts = {
      language: argv.language ?? 'c',
      bytes: Buffer.byteLength(text),
      functions: cFunctions(text),
    };
    if (argv.out === undefined) {
      print(argv.json ? toJson({ ...facts, file: null, header: text }) : text.trimEnd());
      return EXIT_OK;
    }
    const { makeOutputDir, writeOutput } = await import('../../src/io/files.js');
    makeOutputDir(argv.out, 'the header folder (--out)');
    const file = join(argv.out, C_HEADER_FILE);
    writeOutput(file, text, 'the C header');
    print(argv.json ? toJson({ ...facts, file }) : `wrote ${file} (${facts.bytes} bytes)`);
    return EXIT_OK;
  });
