import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { StructReport, XsaveLayoutReport } from '../../src/report/layout.js';
import { flatten } from '../../src/schema/describe.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  profileOption,
  selectTarget,
} from './common.js';

export const command = 'layout';
export const describe = 'the XSAVE layout of a CPU profile, or the fields of an ABI struct (--struct)';

export const builder = (y: Argv) =>
  kernelOptions(y)
    .option('profile', profileOption)
    .option('format', {
      choices: ['standard', 'compacted'] as const,
      default: 'standard' as const,
      describe: 'XSAVE format',
    })
    .option('mask', {
      type: 'string',
      describe: 'feature mask to lay out, e.g. 0x2e7 (default: the XCR0 Linux sets)',
    })
    .option('struct', {
      type: 'string',
      describe: 'show an ABI struct instead: sigcontext_64, _fpstate_32, ucontext_ia32, ...',
    })
    .option('abi', {
      choices: ['x86_64', 'ia32', 'x32'] as const,
      default: 'x86_64' as const,
      describe: 'ABI for --struct',
    })
    .option('c-asserts', {
      type: 'boolean',
      default: false,
      describe: 'with --struct: print C _Static_asserts against the uapi header',
    })
    .example('$0 layout --profile intel-sapphire-rapids', 'standard-format XSAVE area Linux uses on SPR')
    .example(
      '$0 layout --struct sigframe_ia32 --abi ia32 --kernel-bits 32',
      'a frame struct as an i386 kernel lays it out',
    );

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      profile: string;
      format: 'standard' | 'compacted';
      mask?: string;
      struct?: string;
      abi: 'x86_64' | 'ia32' | 'x32';
      cAsserts: boolean;
    }
>;

export const handler = (argv: Args) =>
  run(async () => {
    if (argv.struct !== undefined) {
      const { structReport } = await import('../../src/report/layout.js');
      const report = structReport(argv.struct, argv.abi, argv.kernelBits);
      if (argv.cAsserts) {
        const { cStructAsserts } = await import('../../src/report/layout.js');
        print(cStructAsserts(argv.struct, argv.abi).join('\n'));
        return EXIT_OK;
      }
      print(argv.json ? toJson(report) : renderStruct(report));
      return EXIT_OK;
    }
    const { xsaveLayoutReport } = await import('../../src/report/layout.js');
    const { parseMask } = await import('../../src/report/args.js');
    const { profile, kernel } = await selectTarget(argv.profile, argv.kernel);
    const mask = argv.mask === undefined ? undefined : parseMask(argv.mask, '--mask');
    const report = xsaveLayoutReport(profile, kernel, kernelConfig(argv), argv.format, mask);
    print(argv.json ? toJson(report) : renderXsave(report));
    return EXIT_OK;
  });

function renderXsave(r: XsaveLayoutReport): string {
  return [
    `${r.format} XSAVE area of ${r.profile} for ${hex(r.mask)} (${r.components}), ${r.kernel}: ${r.size} bytes`,
    '',
    table(
      ['offset', 'end', 'size', 'nr', 'component', ''],
      r.regions.map((x) => [
        x.offset,
        x.end,
        x.size,
        typeof x.nr === 'number' ? x.nr : '',
        x.name,
        x.aligned ? 'aligned to 64' : '',
      ]),
      ['r', 'r', 'r', 'r'],
    ),
  ].join('\n');
}

function renderStruct(r: StructReport): string {
  return [
    `struct ${r.name} (${r.abi}, ${r.model} data model): ${r.size} bytes, aligned to ${r.align}${r.source ? `\n  ${r.source}` : ''}`,
    '',
    table(
      ['offset', 'size', 'field', 'type'],
      flatten(r.fields).map((f) => [
        f.offset,
        f.size,
        `${'  '.repeat(f.depth)}${f.name.split('.').pop()}`,
        f.type,
      ]),
      ['r', 'r'],
    ),
  ].join('\n');
}
