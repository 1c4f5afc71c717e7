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
  parseNumber,
  refuseWith,
  withExamples,
} from './common.js';

export const command = 'decode <file>';
export const describe =
  'read a signal frame: registers, what XSTATE_BV says was written, and the sigreturn verdict';

export const examples = [
  ['sigframe decode test/fixtures/frames/x86_64-sigusr1-vectors.json', 'a committed capture'],
  ['sigframe decode test/fixtures/frames/ia32-rt-sigsegv-fault.json --json', 'the same as JSON'],
  [
    'sigframe decode frames.bin --address 0x7f0000001000 --frame-size 2952 --jsonl',
    'many frames of 2952 bytes captured at one address, one JSON line each',
  ],
  [
    'sigframe decode stack.bin --address 0x7ffd0000 --frames-at 0x1c40,0x2900',
    'frames at these offsets of one stack dump',
  ],
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
    })
    .option('frame-size', {
      type: 'string',
      requiresArg: true,
      describe: 'raw bytes: a concatenation of frames of this many bytes, each captured at --address',
    })
    .option('frames-at', {
      type: 'string',
      requiresArg: true,
      describe: 'raw bytes: frames at these byte offsets (comma-separated, or @FILE of them) of one image',
    })
    .option('jsonl', {
      type: 'boolean',
      describe: 'with --frame-size or --frames-at: one JSON line per frame as it is decoded',
    })
    .conflicts('frame-size', 'frames-at');

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
      frameSize?: string;
      framesAt?: string;
      jsonl?: boolean;
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
    if (argv.frameSize !== undefined || argv.framesAt !== undefined) {
      if (locate) {
        await refuseWith(
          argv,
          argv.frameSize !== undefined ? '--frame-size' : '--frames-at',
          ['frame', 'ucontext', 'top'],
          'each frame starts at its own offset',
        );
      }
      return bulk(argv, address);
    }
    if (argv.jsonl) {
      const { InputError } = await import('../../src/schema/errors.js');
      throw new InputError('--jsonl is for many frames: give --frame-size or --frames-at', { path: 'jsonl' });
    }
    const json = await looksJson(argv.file);
    const { decoded, capture } = await naming(
      '--profile',
      () =>
        loadFrame(argv.file, {
          ...(address !== undefined ? { address } : {}),
          ...(locate ? { locate } : {}),
          ...layoutOptions(argv),
        }),
      'profile',
    );
    await refuseIgnored(argv, json, capture !== undefined);
    const { frameSummary, siginfoText } = await import('../../src/report/decode.js');
    print(argv.json ? toJson(hexRegisters(decoded)) : render(decoded, frameSummary(decoded), siginfoText));
    return EXIT_OK;
  });

/** The options that choose the layout a raw frame is read with, as loadFrame and decodeFrames take them. */
function layoutOptions(argv: Args) {
  return {
    ...(argv.abi ? { kind: argv.abi } : {}),
    ...(argv.profile ? { profile: argv.profile } : {}),
    ...(argv.kernel ? { kernel: argv.kernel } : {}),
    ...(argv.amx ? { amx: argv.amx } : {}),
    ...(argv.force ? { force: true } : {}),
    config: kernelConfig(argv),
  };
}

/** The offsets of --frames-at: a comma-separated list, or @FILE holding them (any separators). */
async function frameOffsets(spec: string): Promise<number[]> {
  const { InputError } = await import('../../src/schema/errors.js');
  let text = spec;
  if (spec.startsWith('@')) {
    const { readInput } = await import('../../src/io/files.js');
    text = readInput(spec.slice(1), 'a list of byte offsets', 1 << 26).toString('utf8');
  }
  const parts = text.split(/[\s,]+/).filter((x) => x !== '');
  if (parts.length === 0) throw new InputError('--frames-at: no offsets given', { path: 'frames-at' });
  return Promise.all(parts.map((p) => parseNumber(p, 'frames-at', 'byte offsets ≥ 0, decimal or 0x…'))).then(
    (xs) => {
      const bad = xs.find((x) => x < 0);
      if (bad !== undefined)
        throw new InputError(`--frames-at: ${bad} is not a byte offset (≥ 0)`, { path: 'frames-at' });
      return xs;
    },
  );
}

/**
 * Many raw frames from one file, decoded and printed one at a time (memory stays one frame's):
 * a line each (a table, or --jsonl), then the verdicts counted; --json gives only that summary.
 * Exit 1 if any frame could not be decoded.
 */
async function bulk(argv: Args, address: bigint | undefined): Promise<number> {
  const { decodeFrames } = await import('../../src/io/frames.js');
  const { InputError } = await import('../../src/schema/errors.js');
  const { EXIT_CHECK_FAILED } = await import('../run.js');
  if (argv.json && argv.jsonl)
    throw new InputError('--json and --jsonl: one summary object, or a line per frame; give one', {
      path: 'jsonl',
    });
  if (address === undefined) {
    throw new InputError(`${argv.file}: raw frame bytes need --address (the address of the first byte)`, {
      path: 'address',
    });
  }
  const size =
    argv.frameSize === undefined
      ? undefined
      : await parseNumber(argv.frameSize, 'frame-size', 'a frame size in bytes');
  if (size !== undefined && !(size > 0 && size <= 1 << 20))
    throw new InputError(`--frame-size: ${size} is not a frame size (1 to 1048576 bytes)`, {
      path: 'frame-size',
    });
  const spans = size !== undefined ? { frameSize: size } : { framesAt: await frameOffsets(argv.framesAt!) };
  const frames = decodeFrames(argv.file, spans, { address, ...layoutOptions(argv) });
  const verdicts: Record<string, number> = {};
  const firstErrors: { index: number; offset: number; error: string }[] = [];
  let count = 0;
  let failed = 0;
  const write = (line: string) => process.stdout.write(`${line}\n`);
  if (!argv.json && !argv.jsonl)
    write(
      `${'#'.padStart(7)}  ${'offset'.padStart(10)}  ${'frame'.padEnd(18)}  ${'signal'.padEnd(9)}  ${'verdict'.padEnd(8)}  reason`,
    );
  for (const f of frames) {
    count++;
    if ('error' in f) {
      failed++;
      if (firstErrors.length < 10)
        firstErrors.push({ index: f.index, offset: f.offset, error: f.error.message });
      if (argv.jsonl) write(JSON.stringify({ index: f.index, offset: f.offset, error: f.error.message }));
      else if (!argv.json)
        write(
          `${String(f.index).padStart(7)}  ${hex(f.offset).padStart(10)}  ${'—'.padEnd(18)}  ${'—'.padEnd(9)}  ${'error'.padEnd(8)}  ${f.error.message}`,
        );
      continue;
    }
    const d = f.decoded;
    const v = d.verdict.verdict;
    verdicts[v] = (verdicts[v] ?? 0) + 1;
    const signal = d.siginfo ? d.siginfo.signal : '—';
    if (argv.jsonl)
      write(
        toJson(
          {
            index: f.index,
            offset: f.offset,
            frame: d.frame,
            kind: d.layout.kind,
            profile: d.layout.profile,
            signal,
            xstate_bv: d.xstate_bv,
            verdict: v,
            reason: d.verdict.reason,
            findings: d.findings.length,
          },
          0,
        ),
      );
    else if (!argv.json)
      write(
        `${String(f.index).padStart(7)}  ${hex(f.offset).padStart(10)}  ${hex(d.frame).padEnd(18)}  ${String(signal).padEnd(9)}  ${v.padEnd(8)}  ${d.verdict.reason}`,
      );
  }
  const summary = {
    file: argv.file,
    frames: count,
    decoded: count - failed,
    failed,
    verdicts,
    first_errors: firstErrors,
  };
  if (argv.json) print(toJson(summary));
  else if (!argv.jsonl)
    write(
      `\n${count} frame${count === 1 ? '' : 's'}: ${
        Object.entries(verdicts)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ') || 'none decoded'
      }${failed ? `; ${failed} could not be decoded` : ''}`,
    );
  return failed > 0 ? EXIT_CHECK_FAILED : EXIT_OK;
}

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
