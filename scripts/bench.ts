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
import { rt_sigframe } from '../layouts/frames.js';
import { sigcontext_64 } from '../layouts/uapi.js';
import { buildFrame } from '../src/frame/build.js';
import { decodeFrame } from '../src/frame/decode.js';
import { derivedSigcontextMembers, frameLayout } from '../src/frame/layout.js';
import { type FrameReader, type FrameRegisterFile, frameReader } from '../src/frame/reader.js';
import type { SignalState } from '../src/frame/state.js';
import { frameTarget } from '../src/frame/target.js';
import { FrameWriter } from '../src/frame/writer.js';
import { nativeHelper } from '../src/host/native.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { builtinProfileNames, loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { sizeMatrix } from '../src/report/matrix.js';
import { locate } from '../src/schema/layout.js';
import { decode } from '../src/schema/parse.js';
import { fixture, root, sprState } from '../test/support/helpers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
/** Where sigcontext sits in an x86-64 frame (rt_sigframe is kernel-internal: C cannot offsetof it). */
const SIGCONTEXT = locate(rt_sigframe, dataModels.lp64, 'uc.uc_mcontext').offset;

/**
 * Calls per second of `fn`. Each measurement gets its own compiled loop: a loop shared by every
 * measurement sees many closures, and V8 then calls `fn` without inlining it, which alone costs
 * more than the C reference's whole decode.
 */
function rate(fn: () => void): number {
  const loop = new Function('fn', 'n', 'for (let i = 0; i < n; i++) fn();') as (
    f: () => void,
    n: number,
  ) => void;
  loop(fn, 2000); // warm up the JIT
  let n = 0;
  let batch = 100;
  const start = performance.now();
  let t = start;
  while (t - start < SECONDS * 1000) {
    loop(fn, batch);
    n += batch;
    if (batch < 100_000) batch *= 2;
    t = performance.now();
  }
  return (n * 1000) / (t - start);
}

/**
 * What the C reference does with a frame, for the JS side: read every field once and fold it into
 * a sink, written out field by field (generated from the reader's slots, as C names each member).
 */
function consumer(reader: FrameReader, file: FrameRegisterFile): () => void {
  const q = Object.values(reader.slots.u64).map((i) => `q[${i}]`);
  const n = Object.values(reader.slots.num).map((i) => `n[${i}]`);
  return new Function(
    'file',
    `let sink = 0n, nsink = 0;
     return () => {
       const q = file.u64, n = file.num;
       sink = BigInt.asUintN(64, sink ^ ${q.join(' ^ ')});
       nsink = (nsink ^ ${n.join(' ^ ')}) | 0;
     };`,
  )(file);
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

function cReference(
  c: Case,
): { decode_per_s: number; checked_decode_per_s: number; build_per_s: number } | undefined {
  if (c.t.kind !== 'x86_64') return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sigframe-bench-'));
  const file = join(dir, 'frame.bin');
  writeFileSync(file, c.bytes);
  const comps = [...frameLayout(c.t).image.components.values()].map((r) => `${r.nr}:${r.offset}:${r.size}`);
  const bin = nativeHelper('bench', ['-O2']);
  const r = spawnSync(
    bin,
    [String(SECONDS), file, `0x${c.address.toString(16)}`, String(SIGCONTEXT), ...comps],
    {
      encoding: 'utf8',
    },
  );
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
  const reader = frameReader(c.t);
  const file = reader.registerFile();
  const fold = consumer(reader, file);
  const { bytes, address } = c;
  // The C reference's work: every sigcontext member, sw_reserved, XSTATE_BV, where each component is.
  const view = rate(() => {
    reader.readInto(bytes, address, file);
    fold();
  });
  const record = rate(() => {
    reader.read(bytes, address);
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
  // The C reference's build: a frame of known layout from registers (sigcontext and the XSAVE image).
  const writer = new FrameWriter(c.state, c.t);
  const fields = reader.read(c.bytes, c.address);
  const xsave = c.bytes.slice(fields.bufFx, fields.bufFx + c.t.task.userSize);
  const registers = reader.registerFile();
  reader.readInto(c.bytes, c.address, registers);
  const out = new Uint8Array(writer.template.bytes.length);
  const write = rate(() => {
    writer.write({ registers, xsave }, out);
  });
  // The same from an object of bigints (what a hand-made state looks like): names checked each time.
  const sigcontext = Object.fromEntries(
    Object.entries(fields.sigcontext).filter(([k]) => !derivedSigcontextMembers(c.t.kind).includes(k)),
  );
  const writeObject = rate(() => {
    writer.write({ sigcontext, xsave }, out);
  });
  const ref = cReference(c);
  rows.push({
    frame: c.name,
    bytes: c.bytes.length,
    view_decode_per_s: Math.round(view),
    view_decode_mb_per_s: Math.round((view * c.bytes.length) / 1e6),
    record_decode_per_s: Math.round(record),
    full_decode_per_s: Math.round(full),
    build_per_s: Math.round(build),
    writer_per_s: Math.round(write),
    writer_object_per_s: Math.round(writeObject),
    writer_mb_per_s: Math.round((write * c.bytes.length) / 1e6),
    c_decode_per_s: ref?.decode_per_s ?? null,
    c_checked_decode_per_s: ref?.checked_decode_per_s ?? null,
    c_build_per_s: ref?.build_per_s ?? null,
    decode_ratio: ref ? view / ref.decode_per_s : null,
    checked_decode_ratio: ref ? view / ref.checked_decode_per_s : null,
    build_ratio: ref ? write / ref.build_per_s : null,
  });
}

// The choices the reader makes. binary-parser's compiled parser, and a DataView loop over the
// schema's field table, against the JS floor: the C reference's loads written out in JS at
// constant offsets over one BigUint64Array, with no bounds checks and no result — the most any JS
// decoder could reach on this machine.
const probe = cases()[0]!;
const probeLayout = frameLayout(probe.t);
const scParser = rate(() => {
  decode(sigcontext_64, dataModels.lp64, probe.bytes, SIGCONTEXT);
});
const probeView = new DataView(probe.bytes.buffer, probe.bytes.byteOffset, probe.bytes.byteLength);
const scTable = rate(() => {
  const o: Record<string, number | bigint> = {};
  for (const [name, f] of probeLayout.sigcontext.fields)
    o[name] = f.size === 8 ? probeView.getBigUint64(f.offset, true) : probeView.getUint16(f.offset, true);
});
const sizes = (n: number) =>
  probeLayout.sigcontext.fields.filter(([, f]) => f.size === n).map(([, f]) => f.offset / n);
const jsFloor = rate(
  new Function(
    'u64',
    'u16',
    `let sink = 0n, nsink = 0;
     return () => {
       sink = BigInt.asUintN(64, sink ^ ${sizes(8)
         .map((i) => `u64[${i}]`)
         .join(' ^ ')});
       nsink = (nsink ^ ${sizes(2)
         .map((i) => `u16[${i}]`)
         .join(' ^ ')}) | 0;
     };`,
  )(
    new BigUint64Array(probe.bytes.buffer, probe.bytes.byteOffset, probe.bytes.byteLength >> 3),
    new Uint16Array(probe.bytes.buffer, probe.bytes.byteOffset, probe.bytes.byteLength >> 1),
  ),
);
const probeC = rows[0]!.c_decode_per_s as number | null;

// As `size --all` runs it: the shipped profiles read from their files, then every row.
const sizeAll = () =>
  sizeMatrix(
    { kind: 'x86_64', topAlign: 4096, config: { bits: 64 } },
    builtinProfileNames().map(loadBuiltinProfile),
  );
const t0 = performance.now();
sizeAll();
const sizeAllFirst = performance.now() - t0;
const t1 = performance.now();
sizeAll();
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
  sigcontext_per_s: { binary_parser: Math.round(scParser), dataview_table: Math.round(scTable) },
  js_floor_per_s: Math.round(jsFloor),
  js_floor_ratio: probeC ? jsFloor / probeC : null,
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
    'frame                      bytes  readInto/s    MB/s   read()/s  decodeFrame/s  buildFrame/s   write/s  (object)  write MB/s   C decode/s  (checked)   C build/s  decode/C  (checked)  write/C',
  );
  for (const r of rows) {
    console.log(
      [
        String(r.frame).padEnd(25),
        String(r.bytes).padStart(6),
        fmt(r.view_decode_per_s).padStart(11),
        fmt(r.view_decode_mb_per_s).padStart(7),
        fmt(r.record_decode_per_s).padStart(10),
        fmt(r.full_decode_per_s).padStart(14),
        fmt(r.build_per_s).padStart(13),
        fmt(r.writer_per_s).padStart(9),
        fmt(r.writer_object_per_s).padStart(9),
        fmt(r.writer_mb_per_s).padStart(11),
        fmt(r.c_decode_per_s).padStart(12),
        fmt(r.c_checked_decode_per_s).padStart(11),
        fmt(r.c_build_per_s).padStart(11),
        fmt(r.decode_ratio).padStart(9),
        fmt(r.checked_decode_ratio).padStart(10),
        fmt(r.build_ratio).padStart(8),
      ].join(' '),
    );
  }
  console.log(
    `\nsigcontext_64 alone: binary-parser ${fmt(scParser)}/s, DataView loop over the schema's fields ${fmt(scTable)}/s\nJS floor (the C reference's loads in JS, no checks, no result): ${fmt(jsFloor)}/s = ${fmt(result.js_floor_ratio)} of C\nsize --all in process: ${result.size_all_in_process_ms.first} ms first, ${result.size_all_in_process_ms.warm} ms warm`,
  );
  console.log(
    `cold start (median of 9): node -e 0 ${start.node_e_0_ms.toFixed(0)} ms, sigframe --help ${start.help_ms.toFixed(0)} ms (${(start.help_ms / start.node_e_0_ms).toFixed(2)}×), sigframe size ${start.size_ms.toFixed(0)} ms (${(start.size_ms / start.node_e_0_ms).toFixed(2)}×), sigframe size --all ${start.size_all_ms.toFixed(0)} ms`,
  );
}
