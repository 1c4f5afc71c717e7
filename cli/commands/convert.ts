import { readFileSync, writeFileSync } from 'node:fs';
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
    const { convertImage, convertState, ConvertRefused } = await import('../../src/compat/convert.js');
    const { loadProfile } = await import('../../src/io/profiles.js');
    const { chooseKernel } = await import('../../src/kernel/eras.js');
    const { InputError } = await import('../../src/schema/errors.js');
    const config = kernelConfig(argv);
    const to = loadProfile(argv.to);
    try {
      if (argv.image) {
        if (!argv.from)
          throw new InputError('--image needs --from (the CPU the image was saved on)', { path: 'from' });
        const kernel = chooseKernel(argv.kernel);
        const out = convertImage(
          new Uint8Array(readFileSync(argv.file)),
          loadProfile(argv.from),
          to,
          kernel,
          config,
        );
        if (argv.out) writeFileSync(argv.out, out);
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
      const kernel = chooseKernel(argv.kernel ?? decoded.state.kernel);
      const r = convertState(decoded.state, to, argv.to, kernel, config);
      if (argv.out) {
        writeFileSync(argv.out, r.frame.bytes);
        writeFileSync(`${argv.out}.json`, `${toJson({ state: r.state })}\n`);
      }
      const summary = {
        from: decoded.state.profile,
        to: argv.to,
        address: r.frame.address,
        top: r.frame.top,
        size: r.frame.bytes.length,
        xstate_bv: r.frame.xstateBv,
        notes: r.notes,
        state: r.state,
        ...(argv.out ? { out: argv.out } : {}),
      };
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
