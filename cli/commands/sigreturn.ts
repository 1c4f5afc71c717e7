import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { SigreturnCheck } from '../../src/report/sigreturn-check.js';
import { print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import { type Example, type GlobalArgs, profileFor, withExamples } from './common.js';

export const command = 'sigreturn [runs..]';
export const describe =
  'hold the rt_sigreturn model to the kernel: frames edited in their own handler, what came back (exit 1 if any disagree)';

export const examples = [
  ['sigframe sigreturn', 'about 220 edits on x86_64, ia32 rt and ia32 legacy frames, here'],
  ['sigframe sigreturn test/fixtures/sigreturn/amd-epyc-zen4', 'runs saved on another machine'],
  [
    'sigframe sigreturn --transplant zen4/x86_64-sigusr1.json',
    "also give this kernel another CPU's XSAVE image",
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(y, examples)
    .positional('runs', {
      type: 'string',
      array: true,
      describe:
        'saved runs of native/sigreturn.c, or directories of them (default: run it here, 64-bit and, with cc -m32, 32-bit)',
    })
    .option('profile', {
      type: 'string',
      requiresArg: true,
      describe: 'the CPU the runs come from (default: this host, or host-profile.json beside a saved run)',
    })
    .option('save', {
      type: 'string',
      requiresArg: true,
      describe: "write the live runs and this CPU's profile into this directory",
    })
    .option('transplant', {
      type: 'string',
      requiresArg: true,
      describe:
        "a captured x86_64 frame (NAME.json) whose XSAVE image the live 64-bit run also puts in place of its own frame's",
    })
    .option('all', { type: 'boolean', default: false, describe: 'list every edit, not only disagreements' });

type Args = ArgumentsCamelCase<
  GlobalArgs & { runs?: string[]; profile?: string; save?: string; transplant?: string; all: boolean }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { compareSigreturnWithKernel } = await import('../../src/report/sigreturn-check.js');
    const { chooseKernel } = await import('../../src/report/args.js');
    const io = await import('../../src/io/sigreturn.js');
    const { InputError } = await import('../../src/schema/errors.js');
    const saved = io.sigreturnRunFiles(argv.runs ?? []);
    if (saved.length > 0 && argv.save)
      throw new InputError('--save keeps live runs: give no run files with it', { path: 'save' });
    if (saved.length > 0 && argv.transplant)
      throw new InputError('--transplant is for a live run: give no run files with it', {
        path: 'transplant',
      });
    const transplant = argv.transplant ? io.transplantImage(argv.transplant) : undefined;
    let runs: import('../../src/report/experiments.js').SigreturnExperiment[];
    let profileSpec = argv.profile;
    const skipped: string[] = [];
    if (saved.length > 0) {
      runs = saved.map(io.readSigreturnRun);
      profileSpec ??= io.runProfilePath(saved[0]!);
      if (!profileSpec)
        throw new InputError(`${saved[0]}: no ${io.RUN_PROFILE} beside it; say which CPU with --profile`, {
          path: 'profile',
        });
    } else {
      const host = await import('../../src/host/sigreturn.js');
      const { HostError } = await import('../../src/host/native.js');
      const { emulatedCpu } = await import('../../src/host/probe.js');
      const live: {
        abi: 'x86_64' | 'ia32';
        text: string;
        experiment: import('../../src/report/experiments.js').SigreturnExperiment;
      }[] = [];
      for (const abi of ['x86_64', 'ia32'] as const) {
        try {
          live.push({ abi, ...host.runSigreturnExperimentText(abi, transplant ? { transplant } : {}) });
        } catch (e) {
          if (abi === 'ia32' && e instanceof HostError) skipped.push(`ia32: ${e.message.split('\n')[0]}`);
          else throw e;
        }
      }
      const emulator = emulatedCpu();
      if (emulator) skipped.push(`this CPU is emulated (${emulator}): what XRSTOR does is the emulator's`);
      runs = live.map((r) => r.experiment);
      if (argv.save) {
        const files = io.saveSigreturnRuns(
          argv.save,
          live,
          await profileFor(profileSpec ?? 'host', '--profile'),
        );
        process.stderr.write(`sigframe: saved ${files.join(', ')}\n`);
      }
    }
    const profile = await profileFor(profileSpec ?? 'host', '--profile');
    const checks = runs.flatMap((exp) => {
      if (exp.error) {
        skipped.push(exp.error);
        return [];
      }
      return compareSigreturnWithKernel(exp, profile, chooseKernel(exp.release), { bits: 64 });
    });
    const bad = checks.filter((c) => !c.ok);
    const meta = runs[0]
      ? { release: runs[0].release, cpu: runs[0].cpu, mxcsr_mask: runs[0].mxcsr_mask }
      : {};
    if (argv.json) print(toJson({ ...meta, profile: profile.name, skipped, checks: checks.map(strip) }));
    else print(render(checks, argv.all, meta, skipped));
    return bad.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });

/** The verdict's class and reason in JSON; the full verdict is `decode`'s to give. */
function strip(c: SigreturnCheck) {
  const { verdict, ...rest } = c;
  return {
    ...rest,
    verdict: verdict.verdict,
    ...(verdict.phase ? { phase: verdict.phase } : {}),
    reason: verdict.reason,
  };
}

function render(
  checks: readonly SigreturnCheck[],
  all: boolean,
  meta: { release?: string; cpu?: string },
  skipped: readonly string[],
): string {
  const out: string[] = [
    `rt_sigreturn on ${meta.cpu ?? 'this CPU'}, Linux ${meta.release ?? '?'}: the model against the kernel`,
  ];
  // A thread that used AMX is a frame kind of its own here: its frames carry the tile region.
  const kindOf = (c: SigreturnCheck) => (c.amx ? `${c.kind} (AMX used)` : c.kind);
  const kinds = [...new Set(checks.map(kindOf))];
  out.push(
    table(
      ['frame kind', 'edits', 'agree', 'disagree'],
      kinds.map((k) => {
        const of = checks.filter((c) => kindOf(c) === k);
        return [
          k,
          String(of.length),
          String(of.filter((c) => c.ok).length),
          String(of.filter((c) => !c.ok).length),
        ];
      }),
      ['l', 'r', 'r', 'r'],
    ),
  );
  const rows = checks.filter((c) => all || !c.ok);
  if (rows.length > 0) {
    out.push(
      '',
      table(
        ['kind', 'edit', 'verdict', 'kernel', 'model'],
        rows.map((c) => [kindOf(c), c.edit, c.verdict.verdict, c.kernel, c.ok ? '=' : c.model]),
      ),
    );
  }
  for (const s of skipped) out.push(`not run: ${s}`);
  out.push(
    '',
    checks.every((c) => c.ok)
      ? `all ${checks.length} agree`
      : `${checks.filter((c) => !c.ok).length} DISAGREE`,
  );
  return out.join('\n');
}
