import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { CpuidReport } from '../../src/report/cpuid.js';
import { hex, print, table, toJson } from '../output.js';
import { EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, run } from '../run.js';
import {
  type Example,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  selectTarget,
  withExamples,
} from './common.js';

export const command = 'cpuid';
export const describe = 'decode CPUID leaf 0xD (the host by default) into XSAVE components';

export const examples = [
  ['sigframe cpuid', 'the host, with what the running kernel enabled'],
  [
    [
      'sigframe cpuid --kernel 6.1 \\',
      '  --input test/fixtures/cpuid/GenuineIntel00806F8_SapphireRapids_06_CPUID.txt',
    ],
    'a dump, as Linux 6.1 sees it',
  ],
] as const satisfies readonly Example[];

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples).option('input', {
    type: 'string',
    requiresArg: true,
    describe: 'a CPUID dump (JSON records, `cpuid -r` output, AIDA64/InstLatx64 text) or profile file',
  });

type Args = ArgumentsCamelCase<GlobalArgs & KernelArgs & { input?: string }>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { cpuidReport } = await import('../../src/report/cpuid.js');
    const { profile, kernel } = await selectTarget(argv.input ?? 'host', argv.kernel, '--input');
    const host =
      profile.origin === 'host' ? (await import('../../src/host/probe.js')).probeHost() : undefined;
    const report = cpuidReport(profile, kernel, kernelConfig(argv), host);
    const errors = report.findings.filter((f) => f.level === 'error');
    // Bad input, as any other: one line on stderr, and under --json an "error" member (beside the
    // report, whose findings say the same in full).
    const error =
      errors.length > 0 ? `inconsistent CPUID input: ${errors.map((f) => f.message).join('; ')}` : undefined;
    print(argv.json ? toJson(error ? { error, ...report } : report) : render(report));
    if (error) {
      process.stderr.write(`sigframe: ${error}\n`);
      return EXIT_BAD_INPUT;
    }
    if (report.host && !report.host.model_matches) {
      process.stderr.write(
        `sigframe: MODEL MISMATCH: the kernel set XCR0 = ${report.host.xcr0 === undefined ? 'unknown' : hex(report.host.xcr0)} but sigframe predicts ${hex(report.linux.xcr0)} for ${report.linux.kernel}. This is a sigframe bug or a kernel change it does not know.\n`,
      );
      return EXIT_CHECK_FAILED;
    }
    return EXIT_OK;
  });

function render(r: CpuidReport): string {
  const out: string[] = [];
  const sig = r.signature;
  out.push(
    `CPU      ${r.title}${r.vendor ? ` — ${r.vendor}` : ''}${sig ? ` family ${hex(sig.family)} model ${hex(sig.model)} stepping ${sig.stepping}` : ''}`,
  );
  out.push(`source   ${r.source.kind}: ${r.source.cite}`);
  out.push(`XCR0 supported ${hex(r.xcr0_supported)}   IA32_XSS supported ${hex(r.xss_supported)}`);
  const s = r.sizes;
  out.push(
    `sizes    EBX(XCR0 now) ${s.xsave_sz_xcr0 ?? '—'}   ECX(all supported) ${s.xsave_sz_max ?? '—'}   compacted EBX(XCR0|XSS now) ${s.xsave_sz_xcr0_xss ?? '—'}`,
  );
  if (r.instructions) {
    const on = Object.entries(r.instructions)
      .filter(([, v]) => v)
      .map(([k]) => k);
    out.push(`instr    ${on.join(' ') || '(plain XSAVE)'}`);
  }
  out.push('');
  out.push(
    table(
      ['nr', 'component', 'in', 'size', 'offset', 'flags', 'gate', 'Linux'],
      r.components.map((c) => [
        c.nr,
        c.name,
        c.in,
        c.size,
        c.offset ?? '—',
        [
          c.aligned64 && 'align64',
          c.xfd_faulting && 'xfd',
          c.dynamic && 'dynamic',
          c.architectural_size !== null && c.architectural_size !== c.size && `arch ${c.architectural_size}`,
        ]
          .filter(Boolean)
          .join(' '),
        c.gate ?? '—',
        c.linux_enables ? 'XCR0' : '',
      ]),
      ['r', 'l', 'l', 'r', 'r'],
    ),
  );
  for (const nr of r.missing) out.push(`  ${nr}: supported, but the input has no CPUID.(0xD,${nr}) subleaf`);
  const l = r.linux;
  out.push('');
  if (!l.xsave) {
    out.push(`${l.kernel} (${l.kernel_bits}-bit): XSAVE disabled — ${l.xsave_disabled_because}`);
  } else {
    out.push(`${l.kernel} (${l.kernel_bits}-bit) enables XCR0 = ${hex(l.xcr0)}`);
    out.push(
      l.max_size === null
        ? `  sizes unknown: ${l.size_unknown_because}`
        : `  max_size ${l.max_size} (all enabled)   default_size ${l.default_size} (without dynamic features)`,
    );
    for (const d of l.dropped) out.push(`  not enabled: ${d.nr} ${d.name} — ${d.reason}`);
  }
  if (r.host) {
    out.push(
      `host     XGETBV(0) = ${r.host.xcr0 === undefined ? 'unavailable' : hex(r.host.xcr0)}${r.host.model_matches ? ' — matches the model' : ' — DOES NOT MATCH the model'}   XINUSE = ${r.host.xinuse === undefined ? '—' : hex(r.host.xinuse)}`,
    );
  }
  const notes = r.findings.filter((f) => f.level !== 'error');
  if (notes.length > 0) out.push('', ...notes.map((f) => `${f.level}: ${f.message}`));
  return out.join('\n');
}
