/**
 * `npm run bench`: decode and build throughput on real captured frames and a Sapphire Rapids
 * AMX-used frame, beside a C reference (native/bench.c, cc -O2) doing the same work by struct
 * cast; the time of `size --all`; and cold start against `node -e 0`. Prints a table and, with
 * --json, one object. Numbers go into the README by hand, with the command, never into tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataModels } from '../layouts/abi.js';
import { sigcontext_64 } from '../src/abi/uapi.js';
import { buildFrame, KERNEL_DERIVED_SIGCONTEXT } from '../src/frame/build.js';
import { decodeFrame } from '../src/frame/decode.js';
import type { SignalState } from '../src/frame/state.js';
import { frameTarget } from '../src/frame/target.js';
import { FrameView, frameLayout } from '../src/frame/view.js';
import { FrameWriter } from '../src/frame/writer.js';
import { nativeHelper } from '../src/host/native.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { loadBuiltinProfile } from '../src/profile/store.js';
import { sizeMatrix } from '../src/report/matrix.js';
import { decode } from '../src/schema/parse.js';
import { fixture, root, sprState } from './helpers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

function rate(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn(); // warm up the JIT
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < SECONDS * 1000) {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

interface Case {
  name: string;
  bytes: Uint8Array;
  address: bigint;
  state: SignalState;
  t: ReturnType<typeof stateTarget>;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const name of ['x86_64-sigusr1-vectors', 'x86_64-sigsegv-fault', 'ia32-rt-sigusr1']) {
    const { decoded, capture } = loadFrame(fixture('frames', `${name}.json`));
    out.push({
      name,
      bytes: capture!.memory.bytes,
      address: capture!.info.address,
      state: decoded.state,
      t: stateTarget(decoded.state),
    });
  }
  // Sapphire Rapids, a thread that has used AMX, tiles loaded: the biggest frame there is.
  const spr = loadBuiltinProfile('intel-sapphire-rapids');
  const t = frameTarget('x86_64', spr, chooseKernel('6.18'), { bits: 64 }, 'used');
  const state = sprState(out[0]!.state, 'used', true);
  const b = buildFrame(state, t);
  out.push({ name: 'spr-amx-used (synthetic)', bytes: b.bytes, address: b.address, state, t });
  return out;
}

function cReference(c: Case): { decode_per_s: number; build_per_s: number } | undefined {
  if (c.t.kind !== 'x86_64') return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sigframe-bench-'));
  const file = join(dir, 'frame.bin');
  writeFileSync(file, c.bytes);
  const v = new FrameView(c.bytes, c.address, frameLayout(c.t));
  const bv = v.xstateBv;
  const comps = [...frameLayout(c.t).components.entries()]
    .filter(([nr]) => (bv >> BigInt(nr)) & 1n)
    .map(([, r]) => String(r.offset));
  const bin = nativeHelper('bench', ['-O2']);
  const r = spawnSync(bin, [String(SECONDS), file, String(v.bufFx), ...comps], { encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeProcess(args: string[], runs = 9): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

const rows: Record<string, unknown>[] = [];
for (const c of cases()) {
  const layout = frameLayout(c.t);
  let sink = 0;
  const view = rate(() => {
    const v = new FrameView(c.bytes, c.address, layout);
    const sc = v.sigcontext();
    const sw = v.swReserved();
    const bv = v.xstateBv;
    for (const nr of layout.components.keys()) sink += v.component(nr, bv)?.length ?? 0;
    sink += sw.xstate_size + Number(sc.cs);
  });
  const full = rate(() => {
    decodeFrame({
      memory: { address: c.address, bytes: c.bytes },
      kind: c.t.kind,
      profile: c.t.profile,
      kernel: c.t.kernel,
      config: c.t.config,
      amx: c.t.amx,
      delivery: c.state.delivery,
    });
  });
  const build = rate(() => {
    buildFrame(c.state, c.t);
  });
  // The same work as the C reference: registers into a frame whose layout is already known.
  const writer = new FrameWriter(c.state, c.t);
  const v0 = new FrameView(c.bytes, c.address, layout);
  const bv0 = v0.xstateBv;
  const fx0 = v0.bufFx!;
  const regs = {
    sigcontext: Object.fromEntries(
      Object.entries(v0.sigcontext()).filter(([k]) => !KERNEL_DERIVED_SIGCONTEXT.includes(k)),
    ),
    legacy: c.bytes.subarray(fx0, fx0 + 416),
    components: new Map(
      [...layout.components.keys()].flatMap((nr) => {
        const b = v0.component(nr, bv0);
        return b ? [[nr, b] as [number, Uint8Array]] : [];
      }),
    ),
  };
  const out = new Uint8Array(writer.template.bytes.length);
  const write = rate(() => {
    writer.write(regs, out);
  });
  const ref = cReference(c);
  rows.push({
    frame: c.name,
    bytes: c.bytes.length,
    view_decode_per_s: Math.round(view),
    full_decode_per_s: Math.round(full),
    build_per_s: Math.round(build),
    writer_per_s: Math.round(write),
    writer_mb_per_s: Math.round((write * c.bytes.length) / 1e6),
    c_decode_per_s: ref?.decode_per_s ?? null,
    c_build_per_s: ref?.build_per_s ?? null,
    decode_ratio: ref ? view / ref.decode_per_s : null,
    build_ratio: ref ? write / ref.build_per_s : null,
  });
  if (sink < 0) console.log(sink);
}

// The choice FrameView makes: binary-parser's compiled parser or a DataView over precomputed offsets.
const probe = cases()[0]!;
const probeLayout = frameLayout(probe.t);
const scParser = rate(() => {
  decode(sigcontext_64, dataModels.lp64, probe.bytes, 48);
});
const scView = rate(() => {
  new FrameView(probe.bytes, probe.address, probeLayout).sigcontext();
});

const t0 = performance.now();
sizeMatrix({ abi: 'x86_64', topAlign: 4096, config: { bits: 64 } });
const sizeAllFirst = performance.now() - t0;
const t1 = performance.now();
sizeMatrix({ abi: 'x86_64', topAlign: 4096, config: { bits: 64 } });
const sizeAllWarm = performance.now() - t1;

// The installed command: cli/bin.cjs runs the bundle (npm run build) from V8's code cache, which
// its first run writes; that run is not timed.
const bin = join(root, 'cli', 'bin.cjs');
if (!existsSync(join(root, 'dist', 'sigframe.cjs'))) throw new Error('run `npm run build` first');
const cliEntry = [bin];
spawnSync(process.execPath, [bin, '--version'], { stdio: 'ignore' });
const start = {
  node_e_0_ms: timeProcess(['-e', '0']),
  help_ms: timeProcess([...cliEntry, '--help']),
  size_ms: timeProcess([...cliEntry, 'size']),
  size_all_ms: timeProcess([...cliEntry, 'size', '--all']),
};

const result = {
  node: process.version,
  seconds_per_measurement: SECONDS,
  frames: rows,
  sigcontext_per_s: { binary_parser: Math.round(scParser), dataview: Math.round(scView) },
  size_all_in_process_ms: { first: Math.round(sizeAllFirst), warm: Math.round(sizeAllWarm) },
  cold_start: start,
};
if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  const fmt = (n: unknown) =>
    typeof n !== 'number'
      ? '—'
      : n >= 100
        ? Math.round(n).toLocaleString('en')
        : n >= 1
          ? n.toFixed(1)
          : n.toFixed(4);
  console.log(
    'frame                      bytes  view decode/s  full decode/s   build/s  writer/s  writer MB/s   C decode/s    C build/s  decode/C  write/C',
  );
  for (const r of rows) {
    console.log(
      [
        String(r.frame).padEnd(25),
        String(r.bytes).padStart(6),
        fmt(r.view_decode_per_s).padStart(14),
        fmt(r.full_decode_per_s).padStart(14),
        fmt(r.build_per_s).padStart(9),
        fmt(r.writer_per_s).padStart(9),
        fmt(r.writer_mb_per_s).padStart(12),
        fmt(r.c_decode_per_s).padStart(12),
        fmt(r.c_build_per_s).padStart(12),
        fmt(r.decode_ratio).padStart(9),
        fmt(r.build_ratio).padStart(8),
      ].join(' '),
    );
  }
  console.log(
    `\nsigcontext_64 alone: binary-parser ${fmt(scParser)}/s, DataView over schema offsets ${fmt(scView)}/s\nsize --all in process: ${result.size_all_in_process_ms.first} ms first, ${result.size_all_in_process_ms.warm} ms warm`,
  );
  console.log(
    `cold start (median of 9): node -e 0 ${start.node_e_0_ms.toFixed(0)} ms, sigframe --help ${start.help_ms.toFixed(0)} ms (${(start.help_ms / start.node_e_0_ms).toFixed(2)}×), sigframe size ${start.size_ms.toFixed(0)} ms (${(start.size_ms / start.node_e_0_ms).toFixed(2)}×), sigframe size --all ${start.size_all_ms.toFixed(0)} ms`,
  );
}
