import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { CompatReport } from '../../src/report/compat.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  needs,
  profileFor,
  withExamples,
} from './common.js';

export const command = 'compat';
export const describe =
  'can state saved on one CPU be restored on another? per component, frame and process (exit 1 if not)';

const WHAT = ['frame', 'xsave-image', 'checkpoint'] as const;

export const examples = [
  ['sigframe compat --from intel-cascade-lake --to amd-zen4-genoa', 'Intel vs AMD AVX-512 offsets'],
  ['sigframe compat --matrix --what checkpoint', 'which migrations are safe'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .option('from', {
      type: 'string',
      requiresArg: true,
      describe: 'source CPU: profile name, profile file or raw CPUID dump',
    })
    .option('to', { type: 'string', requiresArg: true, describe: 'destination CPU, likewise' })
    .option('what', { choices: WHAT, default: 'frame' as const, describe: 'what is carried over' })
    .option('amx', {
      choices: ['none', 'permitted', 'used'] as const,
      defaultDescription: 'none',
      describe: "the task's AMX state (with --what frame)",
    })
    .option('matrix', { type: 'boolean', describe: 'every shipped profile against every other' });

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      from?: string;
      to?: string;
      what: (typeof WHAT)[number];
      amx?: 'none' | 'permitted' | 'used';
      matrix?: boolean;
    }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { compat, compatMatrix } = await import('../../src/report/compat.js');
    const { builtinProfileNames, loadBuiltinProfile } = await import('../../src/io/profiles.js');
    const { chooseKernel } = await import('../../src/report/args.js');
    const kernel = chooseKernel(argv.kernel);
    const config = kernelConfig(argv);
    if (argv.amx !== undefined && argv.what !== 'frame') {
      await needs(
        'amx',
        '--what frame',
        `it is the AMX state of the task whose frame is carried over; an ${argv.what} holds whatever components it holds`,
      );
    }
    const amx = argv.amx ?? 'none';
    const { InputError } = await import('../../src/schema/errors.js');
    if (argv.matrix && (argv.from || argv.to))
      throw new InputError('--matrix compares every shipped profile: give it without --from/--to', {
        path: argv.from ? 'from' : 'to',
      });
    if (!argv.matrix && (!argv.from || !argv.to))
      throw new InputError(`give --from and --to (${argv.from ? 'no --to' : 'no --from'}), or --matrix`, {
        path: argv.from ? 'to' : 'from',
      });
    if (argv.matrix) {
      const profiles = builtinProfileNames().map(loadBuiltinProfile);
      const cells = compatMatrix(profiles, kernel, config, argv.what, amx);
      if (argv.json) print(toJson({ what: argv.what, kernel: kernel.label, cells }));
      else {
        const names = profiles.map((p) => p.name);
        print(
          `${argv.what} compatibility, ${kernel.label} (rows: saved on, columns: restored on; ✓ or why not)`,
        );
        print(
          table(
            ['from \\ to', ...names.map((_, i) => `${i + 1}`)],
            names.map((a, i) => [
              `${i + 1} ${a}`,
              ...names.map((b) => {
                const c = cells.find((x) => x.from === a && x.to === b)!;
                return c.compatible ? '✓' : c.codes.join(',');
              }),
            ]),
          ),
        );
        print(
          '\nmoved: a component sits at another offset (Intel vs AMD AVX-512/PKRU) — convert first; missing: the destination lacks a component (XRSTOR #GP / SIGILL); fx-only, partial, init, sigsegv: what rt_sigreturn on the destination does with the frame (the decode verdict; fx-only drops AVX and later); glibc: the destination’s XSAVE is bigger than glibc’s cached buffer; altstack: alt stacks sized from the source’s AT_MINSIGSTKSZ are too small; amx: AMX state cannot be carried.',
        );
      }
      return EXIT_OK;
    }
    const from = await profileFor(argv.from!, '--from');
    const to = await profileFor(argv.to!, '--to');
    const r = compat(from, to, kernel, config, argv.what, amx);
    print(argv.json ? toJson(r) : render(r));
    return r.compatible ? EXIT_OK : EXIT_CHECK_FAILED;
  });

function render(r: CompatReport): string {
  const out: string[] = [];
  out.push(
    `${r.what}: ${r.from} (XCR0 ${hex(r.from_xcr0)}) → ${r.to} (XCR0 ${hex(r.to_xcr0)}), ${r.kernel}${r.what === 'frame' ? `, AMX ${r.amx}` : ''}`,
  );
  out.push(
    table(
      ['nr', 'component', r.from, r.to, 'restore', 'why'],
      r.components.map((c) => [
        c.nr,
        c.name,
        c.from ? `${c.from.offset}+${c.from.size}` : '—',
        c.to ? `${c.to.offset}+${c.to.size}` : '—',
        c.restore,
        c.reason,
      ]),
      ['r'],
    ),
  );
  const other = r.findings.filter((f) => f.scope !== 'component');
  if (other.length > 0) out.push('', ...other.map((f) => `${f.level}: ${f.message}`));
  out.push('', r.compatible ? 'COMPATIBLE' : 'INCOMPATIBLE');
  return out.join('\n');
}
