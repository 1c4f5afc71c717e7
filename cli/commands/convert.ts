import type { ArgumentsCamelCase, Argv } from 'yargs';
import { hex, print, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  looksJson,
  naming,
  profileFor,
  refuseWith,
  withExamples,
} from './common.js';

export const command = 'convert <file>';
export const describe = "move a frame or XSAVE image to another CPU's layout, component by component";

export const examples = [
  [
    ['sigframe convert test/fixtures/frames/x86_64-nested.json \\', '  --to amd-zen4-genoa --out amd.bin'],
    'a captured frame for an AMD machine (the state goes to amd.bin.json)',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .positional('file', {
      type: 'string',
      demandOption: true,
      describe: 'a capture, state or decode JSON; or a raw XSAVE image with --image',
    })
    .option('from', {
      type: 'string',
      requiresArg: true,
      describe: 'source CPU (default for frames: the profile the file names)',
    })
    .option('to', {
      type: 'string',
      requiresArg: true,
      demandOption: true,
      describe: 'destination CPU: profile name, file or raw CPUID dump',
    })
    .option('image', {
      type: 'boolean',
      describe: 'FILE is a raw standard-format XSAVE image (needs --from)',
    })
    .option('out', {
      type: 'string',
      requiresArg: true,
      describe: 'write the converted bytes here (and the state to OUT.json for frames)',
    });

type Args = ArgumentsCamelCase<
  GlobalArgs & KernelArgs & { file: string; from?: string; to: string; image?: boolean; out?: string }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { convertFrame, convertXsaveImage, ConvertRefused } = await import('../../src/report/convert.js');
    const { InputError } = await import('../../src/schema/errors.js');
    const { readInput, writeOutput } = await import('../../src/io/files.js');
    const config = kernelConfig(argv);
    const to = await profileFor(argv.to, '--to');
    try {
      if (argv.image) {
        if (!argv.from)
          throw new InputError('--image needs --from (the CPU the image was saved on)', { path: 'from' });
        const out = convertXsaveImage(
          new Uint8Array(readInput(argv.file, 'an XSAVE image', 1 << 20)),
          await profileFor(argv.from, '--from'),
          to,
          argv.kernel,
          config,
        );
        if (argv.out) writeOutput(argv.out, out, 'the XSAVE image (--out)');
        print(
          argv.json
            ? toJson({
                converted: true,
                size: out.length,
                ...(argv.out ? { out: argv.out } : { bytes: out }),
              })
            : `XSAVE image for ${to.name}: ${out.length} bytes${argv.out ? ` written to ${argv.out}` : ''}`,
        );
        return EXIT_OK;
      }
      const { loadFrame } = await import('../../src/io/frames.js');
      const { decoded, capture } = await naming(
        '--from',
        () =>
          loadFrame(argv.file, {
            ...(argv.from ? { profile: argv.from } : {}),
            ...(argv.kernel ? { kernel: argv.kernel } : {}),
            config,
          }),
        'profile',
      );
      if (!capture && (await looksJson(argv.file)))
        await refuseWith(
          argv,
          `FILE ${argv.file} (a state)`,
          ['from'],
          'a state names the CPU it was saved on; --from is for captures and XSAVE images',
        );
      const { report, frame } = convertFrame(decoded.state, to, argv.to, argv.kernel, config);
      if (argv.out) {
        writeOutput(argv.out, frame.bytes, 'the frame bytes (--out)');
        writeOutput(`${argv.out}.json`, `${toJson({ state: report.state })}\n`, 'the state (--out.json)');
      }
      const summary = { converted: true, ...report, ...(argv.out ? { out: argv.out } : {}) };
      const r = { frame, notes: report.notes };
      for (const n of argv.json ? [] : r.notes) print(`note: ${n}`);
      print(
        argv.json
          ? toJson(summary)
          : `${decoded.state.kind} frame for ${to.name}: ${hex(r.frame.address)}..${hex(r.frame.top)} (${r.frame.bytes.length} bytes, XSTATE_BV ${hex(r.frame.xstateBv)})${argv.out ? `; bytes in ${argv.out}, state in ${argv.out}.json` : ''}`,
      );
      return EXIT_OK;
    } catch (e) {
      if (e instanceof ConvertRefused) {
        // A refusal is a finding, like compat's INCOMPATIBLE: exit 1, and under --json its object.
        process.stderr.write(`sigframe: cannot convert: ${e.message}\n`);
        if (argv.json) print(toJson({ converted: false, to: to.name, refused: e.message }));
        return EXIT_CHECK_FAILED;
      }
      throw e;
    }
  });
