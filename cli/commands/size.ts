import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { KernelCheck } from '../../src/report/measure.js';
import type { LiveTarget, SizeReport } from '../../src/report/size.js';
import { DEFAULT_TOP_ALIGN, sizeTerms } from '../../src/report/terms.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import {
  askedConfig,
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  naming,
  parseNumber,
  profileOption,
  refuseWith,
  selectTarget,
  withExamples,
} from './common.js';

export const command = 'size';
export const describe =
  'how big a sigaltstack must be: AT_MINSIGSTKSZ, frame sizes, admission rules (the host by default)';

const ABIS = ['x86_64', 'x32', 'ia32', 'ia32-rt'] as const;
const AMX = ['none', 'permitted', 'used'] as const;

export const examples = [
  ['sigframe size', 'the host: what to allocate, and AT_MINSIGSTKSZ from the kernel beside the model'],
  ['sigframe size --profile intel-sapphire-rapids --amx used', 'a thread that has executed AMX on an SPR'],
  ['sigframe size --libc musl-1.2.3', 'the host with a program linked against musl 1.2.3'],
  ['sigframe size --all', 'every shipped CPU profile on every kernel era'],
  ['sigframe size --all --profiles fleet/', 'every profile or CPUID dump file in fleet/'],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .option('profile', profileOption)
    .option('cpuid-dump', {
      type: 'string',
      requiresArg: true,
      describe: 'a raw CPUID dump (JSON records, `cpuid -r`, AIDA64/InstLatx64 text) instead of --profile',
    })
    .option('abi', {
      choices: ABIS,
      default: 'x86_64' as const,
      describe: "the handler's frame: x86_64, x32, ia32 (legacy, no SA_SIGINFO) or ia32-rt (SA_SIGINFO)",
    })
    .option('amx', {
      choices: AMX,
      defaultDescription: 'none',
      describe: "the thread's AMX state for the headline numbers",
    })
    .option('libc', {
      type: 'string',
      requiresArg: true,
      describe:
        'the C library for the headline and hazards, e.g. glibc-2.36 or musl-1.2.3 (default: the host glibc, else the newest glibc)',
    })
    .option('top-align', {
      type: 'string',
      requiresArg: true,
      defaultDescription: String(DEFAULT_TOP_ALIGN),
      describe: "the alt stack's top address is a multiple of this (power of two; 1 = any address)",
    })
    .option('all', { type: 'boolean', describe: 'every shipped profile x kernel era x AMX state' })
    .option('profiles', {
      type: 'string',
      requiresArg: true,
      describe: 'with --all: every profile or CPUID dump file in this directory instead of the shipped ones',
    })
    .option('measure', {
      type: 'boolean',
      describe:
        'host only: also find by experiment what the running kernel and C libraries accept and deliver, and compare',
    })
    .conflicts('all', ['measure', 'cpuid-dump']);

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      profile?: string;
      cpuidDump?: string;
      abi: (typeof ABIS)[number];
      amx?: (typeof AMX)[number];
      libc?: string;
      topAlign?: string;
      all?: boolean;
      profiles?: string;
      measure?: boolean;
    }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { sizeReport } = await import('../../src/report/size.js');
    const { parseLibcChoice } = await import('../../src/report/args.js');
    const { InputError } = await import('../../src/schema/errors.js');
    const asked = { ...(argv.kernel === undefined ? {} : { kernel: argv.kernel }), ...askedConfig(argv) };
    const modelConfig = kernelConfig(argv);
    const topAlign =
      argv.topAlign === undefined
        ? DEFAULT_TOP_ALIGN
        : await parseNumber(argv.topAlign, 'top-align', 'a power of two from 1 to 2^30');
    const amx = argv.amx ?? 'none';
    if (argv.all) {
      await refuseWith(
        argv,
        '--all',
        ['profile', 'kernel', 'amx', 'libc'],
        '--all covers every shipped profile, kernel era and AMX state (with the C libraries of each era)',
      );
      const { sizeMatrix } = await import('../../src/report/matrix.js');
      const { builtinProfileNames, loadBuiltinProfile, profilesInDir } = await import(
        '../../src/io/profiles.js'
      );
      const rows = sizeMatrix(
        { kind: argv.abi, topAlign, config: modelConfig },
        argv.profiles === undefined
          ? builtinProfileNames().map(loadBuiltinProfile)
          : profilesInDir(argv.profiles),
      );
      print(
        argv.json
          ? toJson({ abi: argv.abi, top_align: topAlign, kernel_bits: modelConfig.bits, rows })
          : renderMatrix(rows),
      );
      return EXIT_OK;
    }
    if (argv.profiles !== undefined) {
      const { InputError } = await import('../../src/schema/errors.js');
      throw new InputError('--profiles DIR sizes a directory of profiles with --all: add --all', {
        path: 'profiles',
      });
    }
    if (argv.cpuidDump !== undefined && argv.profile !== undefined) {
      await refuseWith(argv, '--cpuid-dump', ['profile'], 'both say which CPU; give one');
    }
    const { profile, kernel } =
      argv.cpuidDump === undefined
        ? await selectTarget(argv.profile ?? 'host', argv.kernel)
        : await dumpTarget(argv.cpuidDump, argv.kernel);
    let config = modelConfig;
    let live: LiveTarget | undefined;
    let otherSystem: string[] = [];
    let ia32Runs = false;
    let libc = argv.libc === undefined ? undefined : parseLibcChoice(argv.libc);
    if (profile.origin === 'host') {
      const { runningSystem, hostTarget } = await import('../../src/host/system.js');
      const { hostAtMinsigstksz } = await import('../../src/host/auxv.js');
      const running = runningSystem();
      const t = hostTarget(running, asked);
      config = t.config;
      otherSystem = t.otherSystem;
      ia32Runs = running.ia32Runs;
      live =
        otherSystem.length > 0
          ? {
              applies: false,
              why: `${otherSystem.join('; ')}: this models another system, so the running kernel is not compared`,
            }
          : { applies: true, kernel: running.release, at_minsigstksz: hostAtMinsigstksz() };
      if (!libc && running.glibc) libc = parseLibcChoice(`glibc-${running.glibc}`);
    }
    if (argv.measure && profile.origin !== 'host') {
      throw new InputError(
        `--measure runs experiments on this machine: use it with --profile host (${profile.name} is a ${profile.origin} profile)`,
        { path: 'measure' },
      );
    }
    if (argv.measure && otherSystem.length > 0) {
      throw new InputError(
        `--measure runs experiments on the running system, but ${otherSystem.join('; ')}`,
        {
          path: 'measure',
        },
      );
    }
    const target = { kind: argv.abi, topAlign, config };
    const report = sizeReport(profile, kernel, target, amx, {
      ...(libc ? { libc } : {}),
      ...(live ? { live } : {}),
    });
    let measured: readonly KernelCheck[] | undefined;
    if (argv.measure) {
      const { measureRunningSystem } = await import('../../src/host/measure.js');
      const m = measureRunningSystem(profile, kernel, config, ia32Runs);
      for (const why of m.skipped) process.stderr.write(`sigframe: not measured: ${why}\n`);
      measured = m.checks;
    }
    print(argv.json ? toJson(measured ? { ...report, measured } : report) : render(report, measured));
    let status = EXIT_OK;
    if (report.live?.applies && !report.live.matches) {
      process.stderr.write(
        `sigframe: MODEL MISMATCH: the running kernel says AT_MINSIGSTKSZ = ${report.live.at_minsigstksz ?? 'absent'}, sigframe predicts ${report.at_minsigstksz ?? 'absent'} (${report.at_minsigstksz_formula}). This is a sigframe bug, a kernel configuration sigframe could not see (--ia32-emulation, --kernel-bits), or a kernel change it does not know.\n`,
      );
      status = EXIT_CHECK_FAILED;
    }
    const failed = measured?.filter((c) => !c.ok) ?? [];
    if (failed.length > 0) {
      process.stderr.write(
        `sigframe: MODEL MISMATCH in ${failed.length} measurement(s):\n${failed.map((c) => `  ${c.what}: model ${c.model}, measured ${c.kernel}`).join('\n')}\n`,
      );
      status = EXIT_CHECK_FAILED;
    }
    return status;
  });

/** --cpuid-dump: a file, never a profile name; errors name the option. */
async function dumpTarget(path: string, kernelArg: string | undefined) {
  const { profileFromDumpFile } = await import('../../src/io/profiles.js');
  const { chooseKernel } = await import('../../src/kernel/eras.js');
  const profile = await naming('--cpuid-dump', () => profileFromDumpFile(path));
  return { profile, kernel: chooseKernel(kernelArg) };
}

const columnOf = (key: (typeof sizeTerms)[number]['key']) => sizeTerms.find((t) => t.key === key)!.column;

function render(r: SizeReport, measured?: readonly KernelCheck[]): string {
  const out: string[] = [];
  out.push(
    `${r.title} (${r.profile}${r.origin === 'host' ? '' : `, ${r.origin} profile`}) — ${r.kernel}${r.kernel.endsWith(r.era) ? '' : ` (${r.era})`}, ${r.kernel_bits}-bit kernel${r.kernel_bits === 64 ? `, IA32 emulation ${r.ia32_emulation ? 'on' : 'off'}` : ''}${r.strict_sas_size ? ', CONFIG_STRICT_SIGALTSTACK_SIZE' : ''}`,
  );
  if (r.recorded) {
    out.push(
      `recorded on Linux ${r.recorded.kernel}${r.recorded.at_minsigstksz === null ? '' : `: AT_MINSIGSTKSZ ${r.recorded.at_minsigstksz}`} — where this profile came from; nothing here is compared with this machine`,
    );
  }
  out.push(
    r.xsave
      ? `XCR0 ${hex(r.xcr0)}   max_size ${r.max_size}   default_size ${r.default_size}   fpu_default_state_size ${r.fpu_default_state_size}`
      : `no XSAVE: ${r.max_size}-byte legacy FP image`,
  );
  const at = r.at_minsigstksz === null ? 'absent' : String(r.at_minsigstksz);
  out.push(`AT_MINSIGSTKSZ ${at}   ${r.at_minsigstksz_formula}`);
  if (r.live?.applies) {
    const k = r.live.at_minsigstksz === null ? 'absent' : String(r.live.at_minsigstksz);
    out.push(
      r.live.matches
        ? `  running kernel (getauxval, Linux ${r.live.kernel}): ${k} — matches`
        : `  !!! running kernel (getauxval, Linux ${r.live.kernel}): ${k} — DOES NOT MATCH the model's ${at}`,
    );
  } else if (r.live) {
    out.push(`  not compared with the running kernel: ${r.live.why}`);
  }
  out.push('');
  const anyTop = (c: string) => `${c}, any top`;
  out.push(`${r.frame_kind} frames (${r.frame.struct}), alt stack top aligned to ${r.top_align}:`);
  out.push(
    table(
      [
        'AMX',
        'user_size',
        columnOf('frame.bytes_below_top'),
        anyTop(columnOf('frame.bytes_below_top')),
        columnOf('min_altstack'),
        anyTop(columnOf('min_altstack')),
        columnOf('sigaltstack.min_accepted'),
        columnOf('allocate.minimum'),
      ],
      r.states.map((s) => [
        s.amx,
        s.user_size,
        s.frame.bytes_below_top,
        s.frame.bytes_below_worst_top,
        s.min_altstack,
        s.min_altstack_worst,
        s.sigaltstack.min_accepted,
        s.allocate.minimum,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const s of r.impossible_states) out.push(`  ${s.amx}: impossible — ${s.why}`);
  for (const t of sizeTerms) out.push(`  ${t.column}: ${t.meaning}`);
  out.push('');
  out.push(`C libraries (sigaltstack() for AMX ${r.amx}; * = ${r.libc_selected.label}, used below):`);
  out.push(
    table(
      ['libc', 'versions', '', '_SC_MINSIGSTKSZ', '_SC_SIGSTKSZ', 'sigaltstack ≥'],
      r.libc.map((l, i) => [
        l.libc,
        l.versions,
        i === r.libc_selected.index ? '*' : '',
        l.sc_minsigstksz ?? '—',
        l.sc_sigstksz ?? '—',
        l.sigaltstack_min,
      ]),
      ['l', 'l', 'l', 'r', 'r', 'r'],
    ),
  );
  out.push(`  legacy constants: MINSIGSTKSZ ${r.legacy.MINSIGSTKSZ}, SIGSTKSZ ${r.legacy.SIGSTKSZ}`);
  out.push('');
  out.push(`Allocate at least ${r.allocate.minimum} bytes (AMX ${r.amx}): ${r.allocate.why};`);
  out.push(`plus what the handler itself uses. ${r.coverage.summary}.`);
  const chosen = r.states.find((s) => s.amx === r.amx)!;
  const others = r.states
    .filter((s) => s !== chosen)
    .flatMap((s) => s.hazards.map((h) => `AMX ${s.amx}: ${h.message}`));
  const hazards = [...chosen.hazards.map((h) => h.message), ...r.hazards.map((h) => h.message), ...others];
  if (hazards.length > 0) out.push('', 'Hazards:', ...hazards.map((h) => `  - ${h}`));
  out.push(
    '',
    `ARCH_REQ_XCOMP_PERM(18): ${r.arch_req_xcomp_perm.result === 0 ? 'succeeds' : r.arch_req_xcomp_perm.result} — ${r.arch_req_xcomp_perm.reason}`,
  );
  if (measured) {
    const bad = measured.filter((c) => !c.ok);
    out.push(
      '',
      `Measured on the running system: ${measured.length - bad.length} of ${measured.length} agree with the model.`,
    );
    for (const c of bad) out.push(`  !!! ${c.what}: model ${c.model}, measured ${c.kernel}`);
  }
  return out.join('\n');
}

function renderMatrix(rows: readonly import('../../src/report/matrix.js').MatrixRow[]): string {
  const errors = rows.filter((r) => r.error).map((r) => `${r.profile}, Linux ${r.era}: ${r.error}`);
  return `${table(
    [
      'profile',
      'kernel',
      'AMX',
      'max_size',
      'AT_MINSIGSTKSZ',
      'user_size',
      columnOf('frame.bytes_below_top'),
      columnOf('min_altstack'),
      'any top',
      columnOf('sigaltstack.min_accepted'),
      'glibc SIGSTKSZ',
    ],
    rows.map((r) => [
      r.profile,
      r.era,
      r.amx,
      ...[
        r.max_size,
        r.at_minsigstksz,
        r.user_size,
        r.bytes_below_top,
        r.min_altstack,
        r.min_altstack_worst,
        r.sigaltstack_min_accepted,
        r.glibc_sc_sigstksz,
      ].map((v) => v ?? '—'),
    ]),
    ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  )}${errors.length > 0 ? `\n\n${errors.join('\n')}` : ''}`;
}
