import type { ArgumentsCamelCase, Argv } from 'yargs';
import { print, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  frameKindOption,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  parseAddress,
} from './common.js';

export const command = 'map [file]';
export const describe = 'a picture of a frame on its stack, top down: every region, what the kernel wrote';

export const builder = (y: Argv) =>
  kernelOptions(y)
    .positional('file', {
      type: 'string',
      describe: 'a capture, state or decode JSON (default: a frame built for --profile)',
    })
    .option('profile', { type: 'string', describe: 'CPU profile for a built frame (default host)' })
    .option('abi', frameKindOption)
    .option('amx', {
      choices: ['none', 'permitted', 'used'] as const,
      default: 'none' as const,
      describe: 'AMX state of a built frame',
    })
    .option('top', { type: 'string', describe: 'alt stack top of a built frame' })
    .option('svg', { type: 'string', describe: 'write an SVG picture here' })
    .option('html', { type: 'string', describe: 'write an HTML page here (register values on hover)' })
    .conflicts('svg', 'html')
    .example(
      '$0 map --profile intel-sapphire-rapids --amx used --html spr.html',
      'the 8 KiB tile region, reserved but unwritten',
    )
    .example('$0 map test/fixtures/frames/x86_64-sigusr1-vectors.json', 'a real frame, in the terminal');

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      file?: string;
      profile?: string;
      abi?: 'x86_64' | 'x32' | 'ia32' | 'ia32-rt';
      amx: 'none' | 'permitted' | 'used';
      top?: string;
      svg?: string;
      html?: string;
    }
>;

export const handler = (argv: Args) =>
  run(async () => {
    const { renderMapHtml, renderMapSvg, renderMapText, sampleMap, stateMap } = await import(
      '../../src/report/map.js'
    );
    const top = await parseAddress(argv.top, 'top');
    let m: ReturnType<typeof stateMap>;
    if (argv.file) {
      const { loadFrame, stateTarget } = await import('../../src/io/frames.js');
      const { decoded } = loadFrame(argv.file, { ...(argv.profile ? { profile: argv.profile } : {}) });
      m = stateMap(
        decoded.state,
        stateTarget(decoded.state),
        `${decoded.state.kind} frame from ${argv.file}`,
        decoded,
      );
    } else {
      const { profileTarget } = await import('../../src/io/profiles.js');
      const { profile, kernel } = profileTarget(argv.profile ?? 'host', argv.kernel);
      const ref = argv.profile ?? 'host';
      m = sampleMap(argv.abi ?? 'x86_64', profile, ref, kernel, kernelConfig(argv), argv.amx, top);
    }
    const { writeOutput } = await import('../../src/io/files.js');
    if (argv.svg) writeOutput(argv.svg, renderMapSvg(m), 'the SVG map (--svg)');
    if (argv.html) writeOutput(argv.html, renderMapHtml(m), 'the HTML map (--html)');
    print(argv.json ? toJson(m) : renderMapText(m));
    return EXIT_OK;
  });
