import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { StructReport, XsaveLayoutReport } from '../../src/report/layout.js';
import { flatten } from '../../src/schema/describe.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  needs,
  profileOption,
  refuseWith,
  selectTarget,
  withExamples,
} from './common.js';

export const command = 'layout';
export const describe = 'the XSAVE layout of a CPU profile, or the fields of an ABI struct (--struct)';

export const examples = [
  ['sigframe layout --profile intel-sapphire-rapids', 'standard-format XSAVE area Linux uses on SPR'],
  [
    'sigframe layout --struct sigframe_ia32 --abi ia32 --kernel-bits 32',
    'a frame struct as an i386 kernel lays it out',
  ],
  ['sigframe layout --struct sigcontext_64 --c-asserts', 'C _Static_asserts to hold the uapi header to'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .option('profile', profileOption)
    .option('format', {
      choices: ['standard', 'compacted'] as const,
      defaultDescription: 'standard',
      describe: 'XSAVE format',
    })
    .option('mask', {
      type: 'string',
      requiresArg: true,
      describe: 'feature mask to lay out, e.g. 0x2e7 (default: the XCR0 Linux sets)',
    })
    .option('struct', {
      type: 'string',
      requiresArg: true,
      describe: 'show an ABI struct instead: sigcontext_64, _fpstate_32, ucontext_ia32, ...',
    })
    .option('abi', {
      choices: ['x86_64', 'ia32', 'x32'] as const,
      defaultDescription: 'x86_64',
      describe: 'ABI for --struct',
    })
    .option('c-asserts', {
      type: 'boolean',
      describe: 'with --struct: print C _Static_asserts against the uapi header',
    });

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      profile?: string;
      format?: 'standard' | 'compacted';
      mask?: string;
      struct?: string;
      abi?: 'x86_64' | 'ia32' | 'x32';
      cAsserts?: boolean;
    }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    if (argv.struct !== undefined) {
      await refuseWith(
        argv,
        '--struct',
        ['profile', 'format', 'mask', 'kernel', 'ia32-emulation', 'strict-sas-size'],
        'an ABI struct is laid out by --abi and --kernel-bits alone, the same on every CPU and kernel version',
      );
      const abi = argv.abi ?? 'x86_64';
      const { structReport, cStructAsserts } = await import('../../src/report/layout.js');
      const report = structReport(argv.struct, abi, argv.kernelBits);
      if (argv.cAsserts) {
        if (argv.kernelBits !== 64)
          await refuseWith(
            argv,
            '--c-asserts',
            ['kernel-bits'],
            'the asserts hold the uapi header as a C compiler for --abi sees it; a kernel has no say',
          );
        const lines = cStructAsserts(argv.struct, abi);
        print(argv.json ? toJson({ struct: report.name, abi, asserts: lines }) : lines.join('\n'));
        return EXIT_OK;
      }
      print(argv.json ? toJson(report) : renderStruct(report));
      return EXIT_OK;
    }
    if (argv.cAsserts) await needs('c-asserts', '--struct', 'the asserts are for one ABI struct');
    if (argv.abi !== undefined)
      await needs('abi', '--struct', 'an XSAVE layout is the same for every ABI (see --kernel-bits)');
    const { xsaveLayoutReport } = await import('../../src/report/layout.js');
    const { parseMask } = await import('../../src/report/args.js');
    const { profile, kernel } = await selectTarget(argv.profile ?? 'host', argv.kernel);
    const mask = argv.mask === undefined ? undefined : parseMask(argv.mask, '--mask');
    const report = xsaveLayoutReport(profile, kernel, kernelConfig(argv), argv.format ?? 'standard', mask);
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
