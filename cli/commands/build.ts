import type { ArgumentsCamelCase, Argv } from 'yargs';
import { hex, print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import { type Example, type GlobalArgs, withExamples } from './common.js';

export const command = 'build <state>';
export const describe =
  'the exact bytes the kernel writes for a signal state, and which bytes it leaves alone';

export const examples = [
  [
    [
      'sigframe decode test/fixtures/frames/x86_64-nested.json --json > s.json',
      'sigframe build s.json --out frame.bin',
    ],
    'rebuild a captured frame from its state',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(y, examples)
    .positional('state', {
      type: 'string',
      demandOption: true,
      describe: 'STATE.json (a state, or `decode --json` output)',
    })
    .option('out', {
      type: 'string',
      requiresArg: true,
      describe: 'write the raw bytes (frame start .. stack top) here',
    });

type Args = ArgumentsCamelCase<GlobalArgs & { state: string; out?: string }>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { loadState, stateTarget } = await import('../../src/io/frames.js');
    const { buildReport } = await import('../../src/report/build.js');
    const state = loadState(argv.state);
    const { report, frame: b } = buildReport(state, stateTarget(state));
    if (argv.out) {
      const { writeOutput } = await import('../../src/io/files.js');
      writeOutput(argv.out, b.bytes, 'the frame bytes (--out)');
    }
    const result = { ...report, ...(argv.out ? { out: argv.out } : { bytes: b.bytes }) };
    if (argv.json) print(toJson(result));
    else {
      print(
        `${state.kind} frame ${hex(b.address)}..${hex(b.top)} (${b.bytes.length} bytes)${argv.out ? ` written to ${argv.out}` : ''}`,
      );
      print(
        `fpstate ${hex(b.placement.fpstate)}  XSAVE image ${hex(b.placement.bufFx)}  XSTATE_BV ${hex(b.xstateBv)}  RFBM ${hex(b.rfbm)}`,
      );
      print(
        `left unwritten by the kernel: ${result.unwritten.map(([a, c]) => `${a}..${c}`).join(', ') || 'nothing'}`,
      );
      if (!argv.out) print('(use --out FILE for the bytes, or --json)');
    }
    return EXIT_OK;
  });
