import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { KernelCheck } from '../../src/report/measure.js';
import type { SizeReport } from '../../src/report/size.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import { type GlobalArgs, kernelBitsOption, kernelOption, profileOption, selectTarget } from './common.js';

export const command = 'size';
export const describe =
  'how big a sigaltstack must be: AT_MINSIGSTKSZ, frame sizes, admission rules (the host by default)';

const ABIS = ['x86_64', 'x32', 'ia32', 'ia32-rt'] as const;
const AMX = ['none', 'permitted', 'used'] as const;

export const builder = (y: Argv) =>
  y
    .option('profile', profileOption)
    .option('cpuid-dump', {
      type: 'string',
      describe: 'a raw CPUID dump (JSON records, `cpuid -r`, AIDA64/InstLatx64 text) instead of --profile',
    })
    .option('kernel', kernelOption)
    .option('kernel-bits', kernelBitsOption)
    .option('ia32-emulation', {
      choices: ['on', 'off'] as const,
      default: 'on' as const,
      describe: 'CONFIG_IA32_EMULATION of a 64-bit kernel',
    })
    .option('strict-sas-size', {
      type: 'boolean',
      default: false,
      describe: 'the kernel runs with strict_sas_size=1 (or CONFIG_STRICT_SIGALTSTACK_SIZE)',
    })
    .option('abi', {
      choices: ABIS,
      default: 'x86_64' as const,
      describe: "the handler's frame: x86_64, x32, ia32 (legacy, no SA_SIGINFO) or ia32-rt (SA_SIGINFO)",
    })
    .option('amx', {
      choices: AMX,
      default: 'none' as const,
      describe: "the thread's AMX state for the headline numbers",
    })
    .option('top-align', {
      type: 'number',
      default: 4096,
      describe: "the alt stack's top address is a multiple of this (power of two; 1 = any address)",
    })
    .option('all', { type: 'boolean', describe: 'every shipped profile x kernel era x AMX state' })
    .option('measure', {
      type: 'boolean',
      describe:
        'host only: also find by experiment what the running kernel accepts and delivers, and compare',
    })
    .conflicts('all', ['measure', 'cpuid-dump'])
    .example('$0 size', 'the host: what to allocate, and AT_MINSIGSTKSZ from the kernel beside the model')
    .example('$0 size --profile intel-sapphire-rapids --amx used', 'a thread that has executed AMX on an SPR')
    .example('$0 size --all', 'every shipped CPU profile on every kernel era');

type Args = ArgumentsCamelCase<
  GlobalArgs & {
    profile: string;
    cpuidDump?: string;
    kernel?: string;
    kernelBits: 64 | 32;
    ia32Emulation: 'on' | 'off';
    strictSasSize: boolean;
    abi: (typeof ABIS)[number];
    amx: (typeof AMX)[number];
    topAlign: number;
    all?: boolean;
    measure?: boolean;
  }
>;

export const handler = (argv: Args) =>
  run(async () => {
    const { sizeReport } = await import('../../src/report/size.js');
    const config = {
      bits: argv.kernelBits,
      ia32Emulation: argv.ia32Emulation === 'on',
      strictSasSize: argv.strictSasSize,
    };
    const target = { abi: argv.abi, topAlign: argv.topAlign, config };
    if (argv.all) {
      const { sizeMatrix } = await import('../../src/report/matrix.js');
      const rows = sizeMatrix(target);
      print(argv.json ? toJson(rows) : renderMatrix(rows));
      return EXIT_OK;
    }
    const spec = argv.cpuidDump ?? argv.profile;
    const { profile, kernel } = await selectTarget(spec, argv.kernel);
    const isHost = profile.name === 'host';
    let hostAt: Parameters<typeof sizeReport>[4];
    if (isHost) {
      const { hostAtMinsigstksz } = await import('../../src/host/auxv.js');
      hostAt = { kernel: profile.file.observed?.kernel ?? 'unknown', at_minsigstksz: hostAtMinsigstksz() };
    }
    const report = sizeReport(profile, kernel, target, argv.amx, hostAt);
    let measured: KernelCheck[] | undefined;
    if (argv.measure) {
      if (!isHost) {
        const { InputError } = await import('../../src/schema/errors.js');
        throw new InputError('--measure runs experiments on this machine: use it with --profile host', {
          path: 'measure',
        });
      }
      measured = await measure(profile, kernel, config);
    }
    print(argv.json ? toJson(measured ? { ...report, measured } : report) : render(report, measured));
    let status = EXIT_OK;
    if (report.host && !report.host.matches) {
      process.stderr.write(
        `sigframe: MODEL MISMATCH: the kernel says AT_MINSIGSTKSZ = ${report.host.at_minsigstksz ?? 'absent'}, sigframe predicts ${report.at_minsigstksz ?? 'absent'} (${report.at_minsigstksz_formula}). This is a sigframe bug, a kernel configuration sigframe was not told about (--ia32-emulation, --kernel-bits), or a kernel change it does not know.\n`,
      );
      status = EXIT_CHECK_FAILED;
    }
    const failed = measured?.filter((c) => !c.ok) ?? [];
    if (failed.length > 0) {
      process.stderr.write(
        `sigframe: MODEL MISMATCH in ${failed.length} measurement(s):\n${failed.map((c) => `  ${c.what}: model ${c.model}, kernel ${c.kernel}`).join('\n')}\n`,
      );
      status = EXIT_CHECK_FAILED;
    }
    return status;
  });

async function measure(
  profile: Awaited<ReturnType<typeof selectTarget>>['profile'],
  kernel: Awaited<ReturnType<typeof selectTarget>>['kernel'],
  config: { bits: 64 | 32; ia32Emulation: boolean; strictSasSize: boolean },
): Promise<KernelCheck[]> {
  const { runAltstackExperiment } = await import('../../src/host/altstack.js');
  const { compareWithKernel } = await import('../../src/report/measure.js');
  const { kernelXfeatures } = await import('../../src/kernel/xstate.js');
  const { HostError } = await import('../../src/host/native.js');
  const k = kernelXfeatures(profile.cpuid, profile.xsave, kernel.era, config);
  const checks = compareWithKernel(runAltstackExperiment('x86_64'), k, kernel, config);
  try {
    checks.push(...compareWithKernel(runAltstackExperiment('ia32'), k, kernel, config));
  } catch (e) {
    if (!(e instanceof HostError)) throw e;
    process.stderr.write(`sigframe: ia32 not measured: ${e.message.split('\n')[0]}\n`);
  }
  return checks;
}

function render(r: SizeReport, measured?: readonly KernelCheck[]): string {
  const out: string[] = [];
  out.push(
    `${r.title} (${r.profile}) — ${r.kernel}${r.kernel.endsWith(r.era) ? '' : ` (${r.era})`}, ${r.kernel_bits}-bit kernel${r.kernel_bits === 64 ? `, IA32 emulation ${r.ia32_emulation ? 'on' : 'off'}` : ''}${r.strict_sas_size ? ', strict_sas_size' : ''}`,
  );
  out.push(
    r.xsave
      ? `XCR0 ${hex(r.xcr0)}   max_size ${r.max_size}   default_size ${r.default_size}   fpu_default_state_size ${r.fpu_default_state_size}`
      : `no XSAVE: ${r.max_size}-byte legacy FP image`,
  );
  const at = r.at_minsigstksz === null ? 'absent' : String(r.at_minsigstksz);
  out.push(`AT_MINSIGSTKSZ ${at}   ${r.at_minsigstksz_formula}`);
  if (r.host) {
    const k = r.host.at_minsigstksz === null ? 'absent' : String(r.host.at_minsigstksz);
    out.push(
      r.host.matches
        ? `  kernel (getauxval, Linux ${r.host.kernel}): ${k} — matches`
        : `  !!! kernel (getauxval, Linux ${r.host.kernel}): ${k} — DOES NOT MATCH the model's ${at}`,
    );
  }
  out.push(
    `glibc sysconf: _SC_MINSIGSTKSZ ${r.glibc.sc_minsigstksz}  _SC_SIGSTKSZ ${r.glibc.sc_sigstksz}   musl: ${r.musl.sc_minsigstksz} / ${r.musl.sc_sigstksz}   legacy MINSIGSTKSZ ${r.legacy.MINSIGSTKSZ} / SIGSTKSZ ${r.legacy.SIGSTKSZ}`,
  );
  out.push('');
  out.push(`${r.abi} frames (${r.frame.struct}), alt stack top aligned to ${r.top_align}:`);
  out.push(
    table(
      ['AMX', 'user_size', 'below top', 'min ss_size', 'worst top', 'sigaltstack ≥', 'allocate ≥'],
      r.states.map((s) => [
        s.amx,
        s.user_size,
        s.frame.bytes_below_top,
        s.frame.min_altstack,
        s.frame.min_altstack_worst,
        s.sigaltstack.min_accepted,
        s.allocate.minimum,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  for (const s of r.impossible_states) out.push(`  ${s.amx}: impossible — ${s.why}`);
  out.push('');
  const chosen = r.states.find((s) => s.amx === r.amx)!;
  out.push(`Allocate at least ${chosen.allocate.minimum} bytes (AMX ${r.amx}): ${chosen.allocate.why};`);
  out.push(
    `plus what the handler itself uses. ${r.at_minsigstksz === null ? `glibc's estimate ${r.glibc.sc_minsigstksz}` : `AT_MINSIGSTKSZ (${r.at_minsigstksz})`} covers every ABI and AMX state on this kernel.`,
  );
  const others = r.states
    .filter((s) => s !== chosen)
    .flatMap((s) => s.hazards.map((h) => `AMX ${s.amx}: ${h}`));
  const hazards = [...chosen.hazards, ...r.hazards, ...others];
  if (hazards.length > 0) out.push('', 'Hazards:', ...hazards.map((h) => `  - ${h}`));
  out.push(
    '',
    `ARCH_REQ_XCOMP_PERM(18): ${r.arch_req_xcomp_perm.result === 0 ? 'succeeds' : r.arch_req_xcomp_perm.result} — ${r.arch_req_xcomp_perm.reason}`,
  );
  if (measured) {
    const bad = measured.filter((c) => !c.ok);
    out.push(
      '',
      `Measured on the running kernel: ${measured.length - bad.length} of ${measured.length} agree with the model.`,
    );
    for (const c of bad) out.push(`  !!! ${c.what}: model ${c.model}, kernel ${c.kernel}`);
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
      'min ss_size',
      'worst top',
      'sigaltstack ≥',
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
        r.min_altstack,
        r.min_altstack_worst,
        r.sigaltstack_min_accepted,
        r.glibc_sc_sigstksz,
      ].map((v) => v ?? '—'),
    ]),
    ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  )}${errors.length > 0 ? `\n\n${errors.join('\n')}` : ''}`;
}
