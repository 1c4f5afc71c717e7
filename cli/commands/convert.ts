import type { ArgumentsCamelCase, Argv } from 'yargs';
import { hex, print, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import { type GlobalArgs, type KernelArgs, kernelConfig, kernelOptions } from './common.js';

export const command = 'convert <file>';
export const describe = "move a frame or XSAVE image to another CPU's layout, component by component";

export const builder = (y: Argv) =>
  kernelOptions(y)
    .positional('file', {
      type: 'string',
      demandOption: true,
      describe: 'a capture, state or decode JSON; or a raw XSAVE image with --image',
    })
    .option('from', {
      type: 'string',
      describe: 'source CPU (default for frames: the profile the file names)',
    })
    .option('to', {
      type: 'string',
      demandOption: true,
      describe: 'destination CPU: profile name, file or raw CPUID dump',
    })
    .option('image', {
      type: 'boolean',
      describe: 'FILE is a raw standard-format XSAVE image (needs --from)',
    })
    .option('out', {
      type: 'string',
      describe: 'write the converted bytes here (and the state to OUT.json for frames)',
    })
    .example('$0 convert frame.json --to amd-zen4-genoa --out amd.bin', 'an Intel frame for an AMD machine');

type Args = ArgumentsCamelCase<
  GlobalArgs & KernelArgs & { file: string; from?: string; to: string; image?: boolean; out?: string }
>;

export const handler = (argv: Args) =>
  run(async () => {
    const { convertFrame, convertXsaveImage, ConvertRefused } = await import('../../src/report/convert.js');
    const { loadProfile } = await import('../../src/io/profiles.js');
    const { InputError } = await import('../../src/schema/errors.js');
    const { readInput, writeOutput } = await import('../../src/io/files.js');
    const config = kernelConfig(argv);
    const to = loadProfile(argv.to);
    try {
      if (argv.image) {
        if (!argv.from)
          throw new InputError('--image needs --from (the CPU the image was saved on)', { path: 'from' });
        const out = convertXsaveImage(
          new Uint8Array(readInput(argv.file, 'an XSAVE image', 1 << 20)),
          loadProfile(argv.from),
          to,
          argv.kernel,
          config,
        );
        if (argv.out) writeOutput(argv.out, out, 'the XSAVE image (--out)');
        print(
          argv.json
            ? toJson({ size: out.length, ...(argv.out ? { out: argv.out } : { bytes: out }) })
            : `XSAVE image for ${to.name}: ${out.length} bytes${argv.out ? ` written to ${argv.out}` : ''}`,
        );
        return EXIT_OK;
      }
      const { loadFrame } = await import('../../src/io/frames.js');
      const { decoded } = loadFrame(argv.file, {
        ...(argv.from ? { profile: argv.from } : {}),
        ...(argv.kernel ? { kernel: argv.kernel } : {}),
      });
      const { report, frame } = convertFrame(decoded.state, to, argv.to, argv.kernel, config);
      if (argv.out) {
        writeOutput(argv.out, frame.bytes, 'the frame bytes (--out)');
        writeOutput(`${argv.out}.json`, `${toJson({ state: report.state })}\n`, 'the state (--out.json)');
      }
      const summary = { ...report, ...(argv.out ? { out: argv.out } : {}) };
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
        process.stderr.write(`sigframe: cannot convert: ${e.message}\n`);
        return EXIT_CHECK_FAILED;
      }
      throw e;
    }
  });
