import { writeFileSync } from 'node:fs';
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
    const { frameMap, renderMapHtml, renderMapSvg, renderMapText } = await import('../../src/report/map.js');
    const { buildFrame } = await import('../../src/frame/build.js');
    const top = await parseAddress(argv.top, 'top');
    let m: ReturnType<typeof frameMap>;
    if (argv.file) {
      const { loadFrame, stateTarget } = await import('../../src/io/frames.js');
      const { decoded } = loadFrame(argv.file, { ...(argv.profile ? { profile: argv.profile } : {}) });
      const t = stateTarget(decoded.state);
      m = frameMap(buildFrame(decoded.state, t), t, `${decoded.state.kind} frame from ${argv.file}`, decoded);
    } else {
      const { sampleState } = await import('../../src/frame/sample.js');
      const { loadProfile } = await import('../../src/io/profiles.js');
      const { chooseKernel } = await import('../../src/kernel/eras.js');
      const { frameTarget } = await import('../../src/frame/target.js');
      const profile = loadProfile(argv.profile ?? 'host');
      const kernel = chooseKernel(
        argv.kernel,
        profile.origin === 'host' ? profile.file.observed?.kernel : undefined,
      );
      const t = frameTarget(argv.abi ?? 'x86_64', profile, kernel, kernelConfig(argv), argv.amx);
      const state = sampleState(t, argv.profile ?? 'host', top);
      m = frameMap(
        buildFrame(state, t),
        t,
        `${t.kind} frame, ${profile.file.title}, ${kernel.label}, AMX ${argv.amx}`,
      );
    }
    if (argv.svg) writeFileSync(argv.svg, renderMapSvg(m));
    if (argv.html) writeFileSync(argv.html, renderMapHtml(m));
    print(argv.json ? toJson(m) : renderMapText(m));
    return EXIT_OK;
  });
