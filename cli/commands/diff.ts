import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import { type Example, type GlobalArgs, withExamples } from './common.js';

export const command = 'diff <a> <b>';
export const describe = 'field-level differences between two frames or states (exit 1 if they differ)';

export const examples = [
  [
    [
      'sigframe diff test/fixtures/frames/x86_64-nested.json \\',
      '  test/fixtures/frames/x86_64-autodisarm.json',
    ],
    'two captures: what differs (exit 1 if anything does)',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(y, examples)
    .positional('a', { type: 'string', demandOption: true, describe: 'a capture, state or decode JSON' })
    .positional('b', { type: 'string', demandOption: true, describe: 'another one' });

type Args = ArgumentsCamelCase<GlobalArgs & { a: string; b: string }>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { loadFrame } = await import('../../src/io/frames.js');
    const { diffValues } = await import('../../src/schema/diff.js');
    const a = loadFrame(argv.a).decoded;
    const b = loadFrame(argv.b).decoded;
    const diffs = diffValues(
      { state: a.state, verdict: a.verdict.verdict },
      { state: b.state, verdict: b.verdict.verdict },
    );
    if (argv.json) print(toJson({ same: diffs.length === 0, differences: diffs }));
    else if (diffs.length === 0) print('no differences');
    else
      print(
        table(
          ['field', argv.a, argv.b],
          diffs.map((d) => [d.path, d.a, d.b]),
        ),
      );
    return diffs.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });
