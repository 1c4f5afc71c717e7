import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { CoreReport } from '../../src/core/report.js';
import type { DecodedFrame } from '../../src/frame/decode.js';
import { hex, hexRegisters, print, table, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  parseNumber,
  profileFor,
  withExamples,
} from './common.js';

export const command = 'core <file>';
export const describe =
  "read an ELF core file: every thread's registers and extended state, the signal info, and the signal frames in progress with their verdicts";

export const examples = [
  ['sigframe core test/fixtures/cores/zen4-x86_64/core', 'a core the kernel wrote'],
  [
    ['sigframe core --json test/fixtures/cores/zen4-x86_64/core \\', '  | jq .threads[0].frames'],
    'the signal frames in progress',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .positional('file', { type: 'string', demandOption: true, describe: 'an x86_64 or i386 ELF core file' })
    .option('thread', { type: 'string', requiresArg: true, describe: 'only this thread (its tid)' })
    .option('profile', {
      type: 'string',
      requiresArg: true,
      describe:
        'the CPU, when the core has no NT_X86_XSAVE_LAYOUT note (default: inferred from XCR0 and the XSTATE size)',
    })
    .option('registers', {
      type: 'boolean',
      default: false,
      describe: 'every vector register, not only the first four',
    });

type Args = ArgumentsCamelCase<
  GlobalArgs & KernelArgs & { file: string; thread?: string; profile?: string; registers: boolean }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { readCoreFile } = await import('../../src/io/core-file.js');
    const { chooseKernel } = await import('../../src/kernel/eras.js');
    const thread =
      argv.thread === undefined ? undefined : await parseNumber(argv.thread, 'thread', 'a thread id');
    const profile = argv.profile === undefined ? undefined : await profileFor(argv.profile, '--profile');
    const report = readCoreFile(argv.file, {
      ...(profile ? { profile, profileRef: argv.profile } : {}),
      kernel: chooseKernel(argv.kernel),
      config: kernelConfig(argv),
      ...(thread !== undefined ? { thread } : {}),
    });
    const { siginfoText } = await import('../../src/report/decode.js');
    // The table shows the GPRs in the order of the sigcontext the frames hold.
    const { sigcontext_32, sigcontext_64 } = await import('../../layouts/uapi.js');
    const order = Object.keys((report.machine === 'x86_64' ? sigcontext_64 : sigcontext_32).fields);
    print(argv.json ? toJson(hexRegisters(report)) : render(report, argv.registers, siginfoText, order));
    return EXIT_OK;
  });

export function render(
  r: CoreReport,
  all: boolean,
  siginfoText: (s: NonNullable<DecodedFrame['siginfo']>) => string,
  /** sigcontext member names, in the struct's order: the registers a table row shows. */
  order: readonly string[],
): string {
  const out: string[] = [];
  const p = r.process;
  out.push(
    `${r.machine} core${p.fname ? ` of ${p.fname}` : ''}${p.pid !== undefined ? ` (pid ${p.pid})` : ''}${p.psargs ? `: ${p.psargs}` : ''}`,
  );
  const min = r.auxv.AT_MINSIGSTKSZ;
  const hw2 = r.auxv.AT_HWCAP2;
  out.push(
    `auxv AT_MINSIGSTKSZ ${min === undefined ? 'absent' : String(min)}   AT_HWCAP2 ${hw2 === undefined ? 'absent' : hex(hw2)}`,
  );
  const l = r.xsave_layout;
  out.push(
    `XSAVE layout (${l.source}${l.source === 'note' ? ': NT_X86_XSAVE_LAYOUT' : ''}): XCR0 ${hex(l.xcr0)}, ${l.size} bytes — ${l.why}`,
  );
  if (l.components.length)
    out.push(`  ${l.components.map((c) => `${c.name} ${c.offset}+${c.size}`).join('   ')}`);
  if (l.candidates && l.candidates.length > 1) out.push(`  equivalent profiles: ${l.candidates.join(', ')}`);
  for (const t of r.threads) {
    out.push('', `thread ${t.tid}${t.signal ? ` (stopped by signal ${t.signal})` : ''}`);
    const rows = order.filter((n) => t.registers[n] !== undefined).map((n) => [n, hex(t.registers[n]!)]);
    const half = Math.ceil(rows.length / 2);
    out.push(
      table(
        ['reg', 'value', 'reg', 'value'],
        rows.slice(0, half).map((row, i) => [...row, ...(rows[half + i] ?? ['', ''])]),
        ['l', 'r', 'l', 'r'],
      ),
    );
    if (t.xstate) {
      const x = t.xstate;
      out.push(
        `XSTATE_BV ${hex(x.xstate_bv)}: ${x.components.join(', ') || 'nothing (every component in INIT)'}   mxcsr ${hex(x.registers.mxcsr ?? 0)}`,
      );
      const vec = x.registers.zmm ?? x.registers.ymm ?? x.registers.xmm ?? [];
      const name = x.registers.zmm ? 'zmm' : x.registers.ymm ? 'ymm' : 'xmm';
      for (const [i, v] of (all ? vec : vec.slice(0, 4)).entries()) out.push(`  ${name}${i} ${hex(v)}`);
      if (!all && vec.length > 4) out.push(`  … ${vec.length - 4} more (--registers, or --json)`);
      if (x.registers.k) out.push(`  k0..k7 ${x.registers.k.map((k) => hex(k)).join(' ')}`);
    }
    if (t.siginfo) out.push(`NT_SIGINFO: ${siginfoText(t.siginfo)}`);
    if (t.frames.length === 0) out.push('signal frames in progress: none');
    for (const f of t.frames) {
      const v = f.verdict;
      out.push(`signal frame at ${hex(f.address)} (${f.kind}, layout ${f.state.profile})`);
      if (f.siginfo) out.push(`  ${siginfoText(f.siginfo)}`);
      const a = f.altstack;
      if (a.onstack && a.ss_sp !== undefined) {
        out.push(
          `  on the alt stack ${hex(a.ss_sp)}+${String(a.ss_size)}: the frame took ${String(a.used)} bytes, ${String(a.headroom)} left below it${a.at_minsigstksz !== undefined ? ` (AT_MINSIGSTKSZ ${a.at_minsigstksz})` : ''}`,
        );
      } else
        out.push(
          `  on the normal stack${a.ss_sp !== undefined ? ` (alt stack ${hex(a.ss_sp)}+${String(a.ss_size)} not in use)` : ''}`,
        );
      out.push(`  rt_sigreturn: ${v.verdict.toUpperCase()} — ${v.reason}`);
      if (v.resumes) out.push(`  resumes ip ${hex(v.resumes.ip)} sp ${hex(v.resumes.sp)}`);
    }
    for (const n of t.notes) out.push(`note: ${n}`);
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}
