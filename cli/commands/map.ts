import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  type Example,
  frameKindOption,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  looksJson,
  naming,
  parseAddress,
  refuseWith,
  selectTarget,
  withExamples,
} from './common.js';

export const command = 'map [file]';
export const describe = 'a picture of a frame on its stack, top down: every region, what the kernel wrote';

export const examples = [
  [
    'sigframe map --profile intel-sapphire-rapids --amx used --html spr.html',
    'the 8 KiB tile region, reserved but unwritten',
  ],
  ['sigframe map test/fixtures/frames/x86_64-sigusr1-vectors.json', 'a real frame, in the terminal'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .positional('file', {
      type: 'string',
      describe: 'a capture, state or decode JSON (default: a frame built for --profile)',
    })
    .option('profile', {
      type: 'string',
      requiresArg: true,
      describe: 'CPU profile: of a built frame (default host), or for a capture (default: the one it names)',
    })
    .option('abi', frameKindOption)
    .option('amx', {
      choices: ['none', 'permitted', 'used'] as const,
      defaultDescription: 'none',
      describe: 'AMX state of a built frame',
    })
    .option('top', { type: 'string', requiresArg: true, describe: 'alt stack top of a built frame' })
    .option('svg', { type: 'string', requiresArg: true, describe: 'write an SVG picture here' })
    .option('html', {
      type: 'string',
      requiresArg: true,
      describe: 'write an HTML page here (register values on hover)',
    })
    .conflicts('svg', 'html');

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      file?: string;
      profile?: string;
      abi?: 'x86_64' | 'x32' | 'ia32' | 'ia32-rt';
      amx?: 'none' | 'permitted' | 'used';
      top?: string;
      svg?: string;
      html?: string;
    }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { renderMapHtml, renderMapSvg, renderMapText, sampleMap, stateMap } = await import(
      '../../src/report/map.js'
    );
    const top = await parseAddress(argv.top, 'top');
    let m: ReturnType<typeof stateMap>;
    if (argv.file !== undefined) {
      await refuseWith(
        argv,
        `FILE ${argv.file}`,
        ['top', 'abi', 'amx'],
        'they shape a frame built for --profile; a file has its own frame',
      );
      const { loadFrame, stateTarget } = await import('../../src/io/frames.js');
      const json = await looksJson(argv.file);
      const { decoded, capture } = await naming(
        '--profile',
        () =>
          loadFrame(argv.file!, {
            ...(argv.profile ? { profile: argv.profile } : {}),
            ...(argv.kernel ? { kernel: argv.kernel } : {}),
            config: kernelConfig(argv),
          }),
        'profile',
      );
      if (json && !capture) {
        await refuseWith(
          argv,
          `FILE ${argv.file} (a state)`,
          ['profile', 'kernel'],
          'a state is drawn as it stands, with its own CPU profile and kernel',
        );
      }
      m = stateMap(
        decoded.state,
        stateTarget(decoded.state),
        `${decoded.state.kind} frame from ${argv.file}`,
        decoded,
      );
    } else {
      const { profile, kernel } = await selectTarget(argv.profile ?? 'host', argv.kernel);
      const ref = argv.profile ?? 'host';
      m = sampleMap(argv.abi ?? 'x86_64', profile, ref, kernel, kernelConfig(argv), argv.amx ?? 'none', top);
    }
    const { writeOutput } = await import('../../src/io/files.js');
    if (argv.svg) writeOutput(argv.svg, renderMapSvg(m), 'the SVG map (--svg)');
    if (argv.html) writeOutput(argv.html, renderMapHtml(m), 'the HTML map (--html)');
    print(argv.json ? toJson(m) : renderMapText(m));
    return EXIT_OK;
  });
