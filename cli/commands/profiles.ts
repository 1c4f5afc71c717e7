import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { ProfileRow } from '../../src/report/profiles.js';
import { InputError } from '../../src/schema/errors.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  naming,
  needs,
  refuseWith,
  withExamples,
} from './common.js';

export const command = 'profiles';
export const describe =
  'list the shipped CPU profiles with the XCR0 and sizes Linux uses on each; or write a new profile';

export const examples = [
  ['sigframe profiles', 'every shipped profile, as the newest kernel sees it'],
  ['sigframe profiles --from-host --name my-box > my-box.json', 'capture this machine as a profile'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .option('from-host', {
      type: 'boolean',
      default: false,
      describe: 'print this host as a profile file (JSON)',
    })
    .option('from-dump', {
      type: 'string',
      requiresArg: true,
      describe: 'print a raw CPUID dump file as a profile file (JSON)',
    })
    .option('name', { type: 'string', requiresArg: true, describe: 'name for --from-host/--from-dump' });

type Args = ArgumentsCamelCase<
  GlobalArgs & KernelArgs & { fromHost?: boolean; fromDump?: string; name?: string }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    if (argv.fromHost && argv.fromDump !== undefined) {
      throw new InputError('--from-host and --from-dump cannot be combined: give one', { path: 'from-dump' });
    }
    if (argv.fromHost || argv.fromDump !== undefined) {
      await refuseWith(
        argv,
        argv.fromHost ? '--from-host' : '--from-dump',
        ['kernel', 'ia32-emulation', 'strict-sas-size', ...(argv.kernelBits === 64 ? [] : ['kernel-bits'])],
        'a profile file is the CPU alone; the kernel is chosen where it is used',
      );
      const { profileFromDumpFile, profileText } = await import('../../src/io/profiles.js');
      const p = argv.fromHost
        ? (await import('../../src/host/profile.js')).hostProfile()
        : await naming('--from-dump', () => profileFromDumpFile(argv.fromDump!));
      print(profileText(p, argv.name));
      return EXIT_OK;
    }
    if (argv.name !== undefined)
      await needs('name', '--from-host or --from-dump', 'it names the profile written');
    const { builtinProfileNames, loadBuiltinProfile } = await import('../../src/io/profiles.js');
    const { chooseKernel } = await import('../../src/report/args.js');
    const { profileRow } = await import('../../src/report/profiles.js');
    const kernel = chooseKernel(argv.kernel);
    const rows = builtinProfileNames().map((n) =>
      profileRow(loadBuiltinProfile(n), kernel, kernelConfig(argv)),
    );
    print(
      argv.json
        ? toJson({ kernel: kernel.label, kernel_bits: argv.kernelBits, profiles: rows })
        : render(rows, kernel.label),
    );
    const failed = rows.filter((r) => r.checks.some((c) => c.status === 'mismatch'));
    if (failed.length > 0) {
      process.stderr.write(
        `sigframe: size cross-checks failed for ${failed.map((r) => r.name).join(', ')}\n`,
      );
      return EXIT_CHECK_FAILED;
    }
    return EXIT_OK;
  });

function checkSummary(r: ProfileRow): string {
  const count = (status: string) => r.checks.filter((c) => c.status === status).length;
  const parts = [
    count('mismatch') && `${count('mismatch')} FAILED`,
    count('ok') && `${count('ok')} ok`,
    count('unknown') && `${count('unknown')} n/a`,
  ].filter(Boolean);
  return parts.join(', ') || '—';
}

function render(rows: readonly ProfileRow[], kernel: string): string {
  return [
    `What ${kernel} enables on each shipped profile (64-bit kernel unless --kernel-bits 32):`,
    '',
    table(
      ['profile', 'vendor', 'XCR0', 'max_size', 'default_size', 'checks', 'source'],
      rows.map((r) => [
        r.name,
        r.vendor ?? '?',
        r.linux.xsave ? hex(r.linux.xcr0) : 'no XSAVE',
        r.linux.max_size ?? '?',
        r.linux.default_size ?? '?',
        checkSummary(r),
        r.synthetic && r.source !== 'synthetic' ? `${r.source} (synthetic)` : r.source,
      ]),
      ['l', 'l', 'r', 'r', 'r'],
    ),
    '',
    'checks: CPUID.(0xD,0).ECX/EBX and (0xD,1).EBX recomputed from the per-component subleaves (n/a: the dump lacks a subleaf).',
  ].join('\n');
}
