import type { ArgumentsCamelCase, Argv } from 'yargs';
import type { DecodedFrame } from '../../src/frame/decode.js';
import type { FrameSummary } from '../../src/report/decode.js';
import { hex, hexRegisters, print, table, toJson } from '../output.js';
import { EXIT_OK, run } from '../run.js';
import {
  type Example,
  frameKindOption,
  type GlobalArgs,
  type KernelArgs,
  kernelConfig,
  kernelOptions,
  looksJson,
  naming,
  parseAddress,
  refuseWith,
  withExamples,
} from './common.js';

export const command = 'decode <file>';
export const describe =
  'read a signal frame: registers, what XSTATE_BV says was written, and the sigreturn verdict';

export const examples = [
  ['sigframe decode test/fixtures/frames/x86_64-sigusr1-vectors.json', 'a committed capture'],
  ['sigframe decode test/fixtures/frames/ia32-rt-sigsegv-fault.json --json', 'the same as JSON'],
] as const satisfies readonly Example[];

/** Address options: a string each (yargs would read `-0x10` as flags), checked by parseAddress. */
const address = (describe: string) => ({ type: 'string', requiresArg: true, describe }) as const;

export const builder = (y: Argv) =>
  withExamples(kernelOptions(y), examples)
    .positional('file', {
      type: 'string',
      demandOption: true,
      describe: 'a capture (NAME.json beside NAME.bin), a state or decode JSON, or raw frame bytes',
    })
    .option('address', address('raw bytes: the address of the first byte'))
    .option('frame', address('the frame starts here (default: the first byte)'))
    .option('ucontext', address('locate the frame by its ucontext address'))
    .option('top', address('locate the frame below this alt stack top (placement rules)'))
    .conflicts('frame', ['ucontext', 'top'])
    .conflicts('ucontext', 'top')
    .option('abi', frameKindOption)
    .option('profile', {
      type: 'string',
      requiresArg: true,
      describe: 'CPU profile (default: the one the capture names, else host)',
    })
    .option('amx', {
      choices: ['none', 'permitted', 'used'] as const,
      describe: "the task's AMX state (default: inferred)",
    })
    .option('force', {
      type: 'boolean',
      describe: 'decode with --profile even when the frame does not fit it (the misfits become notes)',
    });

type Args = ArgumentsCamelCase<
  GlobalArgs &
    KernelArgs & {
      file: string;
      address?: string;
      frame?: string;
      ucontext?: string;
      top?: string;
      abi?: 'x86_64' | 'x32' | 'ia32' | 'ia32-rt';
      profile?: string;
      amx?: 'none' | 'permitted' | 'used';
      force?: boolean;
    }
>;

export const handler = (argv: Args) =>
  run(argv, async () => {
    const { loadFrame } = await import('../../src/io/frames.js');
    const frame = await parseAddress(argv.frame, 'frame');
    const uc = await parseAddress(argv.ucontext, 'ucontext');
    const top = await parseAddress(argv.top, 'top');
    const address = await parseAddress(argv.address, 'address');
    const locate =
      frame !== undefined
        ? { frame }
        : uc !== undefined
          ? { ucontext: uc }
          : top !== undefined
            ? { top }
            : undefined;
    const json = await looksJson(argv.file);
    const { decoded, capture } = await naming(
      '--profile',
      () =>
        loadFrame(argv.file, {
          ...(address !== undefined ? { address } : {}),
          ...(locate ? { locate } : {}),
          ...(argv.abi ? { kind: argv.abi } : {}),
          ...(argv.profile ? { profile: argv.profile } : {}),
          ...(argv.kernel ? { kernel: argv.kernel } : {}),
          ...(argv.amx ? { amx: argv.amx } : {}),
          ...(argv.force ? { force: true } : {}),
          config: kernelConfig(argv),
        }),
      'profile',
    );
    await refuseIgnored(argv, json, capture !== undefined);
    const { frameSummary, siginfoText } = await import('../../src/report/decode.js');
    print(argv.json ? toJson(hexRegisters(decoded)) : render(decoded, frameSummary(decoded), siginfoText));
    return EXIT_OK;
  });

/**
 * Options the input cannot use are refused, not dropped: a capture has its own address, and a
 * state (or decode output) is built as it stands, with its own kind, profile, kernel and AMX state.
 */
async function refuseIgnored(argv: Args, json: boolean, isCapture: boolean): Promise<void> {
  if (!json) return;
  if (isCapture) {
    await refuseWith(
      argv,
      `FILE ${argv.file} (a capture)`,
      ['address'],
      'a capture has the address of its bytes; --address is for raw frame bytes',
    );
    return;
  }
  await refuseWith(
    argv,
    `FILE ${argv.file} (a state)`,
    ['address', 'frame', 'ucontext', 'top', 'abi', 'profile', 'amx', 'force', 'kernel'],
    'a state is built as it stands, with its own address, frame kind, CPU profile, kernel and AMX state',
  );
}

export function render(
  d: DecodedFrame,
  view: FrameSummary,
  siginfoText: (s: NonNullable<DecodedFrame['siginfo']>) => string,
): string {
  const s = d.state;
  const out: string[] = [];
  out.push(`${s.kind} frame at ${hex(d.frame)} (${s.profile}, Linux ${s.kernel}, AMX ${s.amx})`);
  out.push(`layout: ${d.layout.source} — ${d.layout.why}`);
  const rows = view.sigcontext.map(([k, v]) => [k, hex(v)]);
  if (view.ucontext) {
    const u = view.ucontext;
    out.push(
      `uc_flags ${hex(u.uc_flags)}   uc_stack sp ${hex(u.ss_sp)} size ${u.ss_size} flags ${hex(u.ss_flags >>> 0)}`,
    );
  }
  if (d.siginfo) out.push(siginfoText(d.siginfo));
  out.push('', table(['sigcontext', 'value'], rows, ['l', 'r']));
  out.push(
    '',
    `fpstate ${hex(d.fpstate)}${d.buf_fx !== null && d.buf_fx !== d.fpstate ? ` (FSAVE header; XSAVE image at ${hex(d.buf_fx)})` : ''}`,
  );
  if (d.sw_reserved) {
    const w = d.sw_reserved;
    out.push(
      `sw_reserved magic1 ${hex(w.magic1)} extended_size ${w.extended_size} xfeatures ${hex(w.xfeatures)} xstate_size ${w.xstate_size}`,
    );
  }
  out.push(`XSTATE_BV ${hex(s.fpu?.xstate_bv ?? 0n)}: ${d.written.join(', ') || 'nothing'}`);
  const r = d.registers;
  if (r) {
    const vec = r.zmm ?? r.ymm ?? r.xmm ?? [];
    const name = r.zmm ? 'zmm' : r.ymm ? 'ymm' : 'xmm';
    out.push('', `mxcsr ${hex(r.mxcsr ?? 0)}${r.pkru !== undefined ? `   pkru ${hex(r.pkru)}` : ''}`);
    for (const [i, v] of vec.slice(0, 4).entries()) out.push(`${name}${i} ${hex(v)}`);
    if (vec.length > 4) out.push(`… ${vec.length - 4} more (--json for all)`);
    if (r.k) out.push(`k0..k7 ${r.k.map((x) => hex(x)).join(' ')}`);
    if (r.tmm) out.push(`tmm0..7: ${r.tmm.length} tiles written`);
  }
  const v = d.verdict;
  const when =
    v.verdict === 'sigsegv'
      ? v.phase === 'sigreturn'
        ? ' in rt_sigreturn (bad frame)'
        : ` on the return to user mode (${v.trap})`
      : '';
  out.push('', `rt_sigreturn: ${v.verdict.toUpperCase()}${when} — ${v.reason}`);
  if (v.mxcsr) {
    const mx = v.mxcsr.value === undefined ? '' : ` ${hex(v.mxcsr.value)}`;
    const src = { frame: 'the frame', init: 'INIT', kernel: "the kernel's copy" }[v.mxcsr.source];
    const x87 = v.x87
      ? { image: 'the image', 'fsave-header': 'the FSAVE header', init: 'INIT' }[v.x87.source]
      : '';
    out.push(
      `  restored ${hex(v.restored)}   set to INIT ${hex(v.init)}   MXCSR${mx} from ${src}   x87 from ${x87}`,
    );
  }
  if (v.resumes) {
    const r = v.resumes;
    const segs = (['ds', 'es', 'fs', 'gs'] as const)
      .filter((k) => r[k] !== undefined)
      .map((k) => ` ${k} ${hex(r[k]!)}`);
    out.push(
      `  resumes (${r.mode}-bit): ip ${hex(r.ip)} sp ${hex(r.sp)} flags ${hex(r.flags)} cs ${hex(r.cs)} ss ${hex(r.ss)}${segs.join('')}`,
    );
  }
  out.push('  checks:');
  for (const st of v.steps) out.push(`    ${st.rule}: ${st.result}  [${st.source}]`);
  for (const n of [...v.notes, ...d.notes]) out.push(`  note: ${n}`);
  return out.join('\n');
}
