/**
 * `npm run bench`: decode and build throughput on real captured frames and a Sapphire Rapids
 * AMX-used frame, beside a C reference (native/bench.c, cc -O2) doing the same work by struct
 * cast; the time of `size --all`; and cold start against `node -e 0`. Prints a table and, with
 * --json, one object. Numbers go into the README by hand, with the command, never into tests.
 * It runs compiled by tsc (tsconfig.bench.json), as users import the library: under tsx every
 * closure is wrapped to keep its name, which cost the decoder some 20%.
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataModels } from '../layouts/abi.js';
import { rt_sigframe } from '../layouts/frames.js';
import { profilesDir, packageRoot as root } from '../layouts/paths.js';
import { sigcontext_64 } from '../layouts/uapi.js';
import { buildFrame } from '../src/frame/build.js';
import { decodeFrame } from '../src/frame/decode.js';
import { frameLayout, sigcontextOf } from '../src/frame/layout.js';
import { type FrameReader, type FrameRegisterFile, frameReader } from '../src/frame/reader.js';
import type { SignalState } from '../src/frame/state.js';
import { frameTarget } from '../src/frame/target.js';
import { FrameWriter } from '../src/frame/writer.js';
import { nativeHelper } from '../src/host/native.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { builtinProfileNames, loadBuiltinProfile, profilesInDir } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { sizeMatrix } from '../src/report/matrix.js';
import { locate } from '../src/schema/layout.js';
import { decode } from '../src/schema/parse.js';
import { sprState } from '../test/support/helpers.js';

const fixture = (...parts: string[]) => join(root, 'test', 'fixtures', ...parts);

/** Rounds: C and JS measured one after the other in each, so both see the same machine. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/** CPU seconds per measurement per round. */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 0.25);
/** The share of a window each measurement first runs untimed. */
const SETTLE = 0.2;
/** Where sigcontext sits in an x86-64 frame (rt_sigframe is kernel-internal: C cannot offsetof it). */
const SIGCONTEXT = locate(rt_sigframe, dataModels.lp64, 'uc.uc_mcontext').offset;

/**
 * The measuring thread's CPU time in ms, as the single-threaded C reference's
 * CLOCK_PROCESS_CPUTIME_ID is: Linux's /proc/thread-self/schedstat (ns on CPU). process.cpuUsage()
 * would also count V8's GC and compiler threads, charging one measurement what the allocating one
 * before it left them. Elsewhere, the process's.
 */
const schedstat = (() => {
  try {
    return openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return undefined;
  }
})();
const statBuf = Buffer.alloc(128);
function cpuMs(): number {
  if (schedstat !== undefined) {
    const n = readSync(schedstat, statBuf, 0, statBuf.length, 0);
    const ns = Number.parseInt(statBuf.toString('latin1', 0, n), 10);
    if (Number.isFinite(ns)) return ns / 1e6;
  }
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Generated code with a source of its own: V8 caches `new Function` by its source text, and
 * functions made from one cached source share their type feedback, so a call site in them sees
 * every closure any of them was given (a "wrong call target" deopt each time another is).
 */
let sources = 0;
const unique = (body: string) => `${body}\n// source ${++sources}`;

/**
 * A meter for `fn`: each call measures calls per CPU second over one window. Each meter has its
 * own compiled loop: a loop shared by every measurement sees many closures, and V8 then calls
 * `fn` without inlining it, which alone costs more than the C reference's whole decode.
 */
function meter(fn: () => void): () => number {
  const loop = new Function('fn', 'n', unique('for (let i = 0; i < n; i++) fn();')) as (
    f: () => void,
    n: number,
  ) => void;
  loop(fn, 2000); // warm up the JIT
  let batch = 100;
  return () => {
    // Untimed first, so the garbage and compile jobs the previous measurement left are done before
    // the clock starts: this thread takes part in GC, and the fallback clock counts V8's helpers.
    for (const settle = performance.now(); performance.now() - settle < WINDOW * SETTLE * 1000; )
      loop(fn, batch);
    let n = 0;
    const start = cpuMs();
    let t = start;
    while (t - start < WINDOW * 1000) {
      loop(fn, batch);
      n += batch;
      if (t - start < WINDOW * 250 && batch < 1_000_000) batch *= 2;
      t = cpuMs();
    }
    return (n * 1000) / (t - start);
  };
}

/** Non-allocating sinks: 64-bit values fold into a BigUint64Array element, the rest into an Int32Array. */
const SINK64 = new BigUint64Array(1);
const SINK32 = new Int32Array(1);

/**
 * What the C reference does with a frame, through readInto(): every field once, folded into the
 * sinks (generated from the reader's slots, as C names each member).
 */
function registerFileConsumer(reader: FrameReader, file: FrameRegisterFile): () => void {
  const q = Object.values(reader.slots.u64).map((i) => `q[${i}]`);
  const n = Object.values(reader.slots.num).map((i) => `n[${i}]`);
  return new Function(
    'file',
    'S',
    'N',
    unique(`return () => {
       const q = file.u64, n = file.num;
       S[0] ^= ${q.join(' ^ ')};
       N[0] ^= ${n.map((x) => `${x} | 0`).join(' ^ ')};
     };`),
  )(file, SINK64, SINK32);
}

/**
 * The same through locate(): the caller's own views of the input's buffer at the positions it
 * returns, nothing copied — every sigcontext member, sw_reserved, XSTATE_BV, each component's place.
 * Each view is indexed by the position shifted once (`b8 = b >>> 3`) plus a constant per member,
 * as README shows: `(b + offset) >>> 3` per member costs a shift each.
 */
function zeroCopyConsumer(
  reader: FrameReader,
  bytes: Uint8Array,
  address: bigint,
  part: 'both' | 'locate' | 'loads' = 'both',
): () => void {
  const o = reader.offsets;
  const buffer = bytes.buffer;
  // An ia32 frame is 4-aligned: its 64-bit members are read as two 32-bit halves.
  const aligned8 = reader.layout.target.kind === 'x86_64';
  type M = { offset: number; size: number };
  const at = (base: string, size: 2 | 4 | 8, offset: number) => {
    if (offset % size !== 0)
      throw new Error(`a ${size}-byte member at ${offset} is not aligned for its view`);
    return `${({ 2: 'U16', 4: 'U32', 8: 'U64' } as const)[size]}[${base}${size} + ${offset / size}]`;
  };
  const narrowAt = (base: string, m: M): string[] =>
    m.size === 8
      ? [at(base, 4, m.offset), at(base, 4, m.offset + 4)]
      : [at(base, m.size === 4 ? 4 : 2, m.offset)];
  const wide = (list: M[], base: string) =>
    aligned8 ? list.filter((m) => m.size === 8).map((m) => at(base, 8, m.offset)) : [];
  const narrow = (list: M[], base: string) =>
    list.filter((m) => !aligned8 || m.size !== 8).flatMap((m) => narrowAt(base, m));
  const sc = Object.values(o.sigcontext);
  const sw = [...Object.values(o.swReserved), { offset: o.xstateBv, size: 8 }];
  const xor = (xs: string[], zero: string) => (xs.length ? xs.join(' ^ ') : zero);
  const shifts = (v: string) => `const ${v}2 = ${v} >>> 1, ${v}4 = ${v} >>> 2, ${v}8 = ${v} >>> 3;`;
  // The parts timed alone, for the profile: locate() folding only its positions, and the loads
  // at positions located once, before the loop.
  const locate = 'reader.locate(bytes, address, I);';
  if (part === 'locate')
    return new Function(
      'reader',
      'bytes',
      'address',
      'N',
      unique(`const I = new Int32Array(reader.indexLength);
     return () => { ${locate} N[0] ^= I[0] ^ I[1]; };`),
    )(reader, bytes, address, SINK32);
  const body = `const I = new Int32Array(reader.indexLength);
     ${part === 'loads' ? locate : ''}
     return () => {
       ${part === 'loads' ? '' : locate}
       const b = I[0], x = I[1];
       ${shifts('b')}
       S[0] ^= ${xor(wide(sc, 'b'), '0n')};
       N[0] ^= ${xor(narrow(sc, 'b'), '0')};
       if (x >= 0) {
         ${shifts('x')}
         S[0] ^= ${xor(wide(sw, 'x'), '0n')};
         N[0] ^= ${xor([...narrow(sw, 'x'), ...o.components.map((_, i) => `I[${2 + i}]`)], '0')};
       }
     };`;
  return new Function('reader', 'bytes', 'address', 'U64', 'U32', 'U16', 'S', 'N', unique(body))(
    reader,
    bytes,
    address,
    new BigUint64Array(buffer, 0, buffer.byteLength >>> 3),
    new Uint32Array(buffer, 0, buffer.byteLength >>> 2),
    new Uint16Array(buffer, 0, buffer.byteLength >>> 1),
    SINK64,
    SINK32,
  );
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
  const captured = [
    ['x86_64-sigusr1-vectors', 'zen4'],
    ['x86_64-sigsegv-fault', 'zen4'],
    ['avx2/x86_64-sigusr1-vectors', 'avx2'],
    ['amd-epyc-pkru/x86_64-sigusr1-vectors', 'pkru'],
    // A real AMX frame: all eight tiles live, 11528 bytes.
    ['intel-xeon-amx/x86_64-amx-tiles', 'intel-amx'],
    ['ia32-rt-sigusr1', 'zen4'],
  ] as const;
  for (const [file, cpu] of captured) {
    const { decoded, capture } = loadFrame(fixture('frames', `${file}.json`));
    // A buffer of its own: the kernel's alignment of the frame is then the typed arrays' alignment.
    const bytes = Uint8Array.from(capture!.memory.bytes);
    out.push({
      name: `${file.split('/').pop()} (${cpu})`,
      bytes,
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

interface CRates {
  decode_per_s: number;
  checked_decode_per_s: number;
  build_per_s: number;
}

/** native/bench.c on the case's frame: one window each of decode, checked decode and build. */
function cReference(c: Case): CRates | undefined {
  if (c.t.kind !== 'x86_64') return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'sigframe-bench-'));
  const file = join(dir, 'frame.bin');
  writeFileSync(file, c.bytes);
  const comps = [...frameLayout(c.t).image.components.values()].map((r) => `${r.nr}:${r.offset}:${r.size}`);
  const bin = nativeHelper('bench', ['-O2']);
  const r = spawnSync(
    bin,
    [String(WINDOW), file, `0x${c.address.toString(16)}`, String(SIGCONTEXT), ...comps],
    {
      encoding: 'utf8',
    },
  );
  rmSync(dir, { recursive: true, force: true });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}
const spread = (xs: readonly number[]): Spread => ({
  median: median(xs),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

/** Every measurement of one case, as meters. */
function meters(c: Case) {
  const reader = frameReader(c.t);
  const file = reader.registerFile();
  const fold = registerFileConsumer(reader, file);
  const { bytes, address } = c;
  const zeroCopy = zeroCopyConsumer(reader, bytes, address);
  const request = {
    memory: { address, bytes },
    kind: c.t.kind,
    profile: c.t.profile,
    kernel: c.t.kernel,
    config: c.t.config,
    amx: c.t.amx,
    delivery: c.state.delivery,
  };
  const writer = new FrameWriter(c.state, c.t);
  const fields = reader.read(bytes, address);
  const xsave = bytes.slice(fields.bufFx, fields.bufFx + c.t.task.userSize);
  const registers = reader.registerFile();
  reader.readInto(bytes, address, registers);
  const out = new Uint8Array(writer.template.bytes.length);
  const writeRequest = { registers, xsave };
  return {
    locate: meter(zeroCopy),
    locateAlone: meter(zeroCopyConsumer(reader, bytes, address, 'locate')),
    loadsAlone: meter(zeroCopyConsumer(reader, bytes, address, 'loads')),
    readInto: meter(() => {
      reader.readInto(bytes, address, file);
      fold();
    }),
    // What a bulk verdict run reads (`decode --jsonl`): the verdict, findings, siginfo, XSTATE_BV.
    decodeFrame: meter(() => {
      const d = decodeFrame(request);
      SINK32[0]! ^= d.verdict.verdict.length ^ d.findings.length ^ (d.siginfo?.si_signo ?? 0);
      SINK64[0]! ^= d.xstate_bv ?? 0n;
    }),
    // The typed values are made on first read: the cost of a decode that reads all of them.
    decodeFrameAll: meter(() => {
      const d = decodeFrame(request);
      SINK32[0]! ^= d.verdict.verdict.length ^ d.findings.length ^ (d.siginfo?.si_signo ?? 0);
      const fpu = d.state.fpu;
      SINK64[0]! ^=
        BigInt(sigcontextOf(d.state.frame, d.state.kind).ip!) ^ (fpu?.legacy.sw_reserved.xfeatures ?? 0n);
      if (fpu) for (const v of Object.values(fpu.components)) SINK32[0]! ^= v === undefined ? 0 : 1;
      SINK32[0]! ^= d.registers ? 1 : 0;
    }),
    buildFrame: meter(() => {
      buildFrame(c.state, c.t);
    }),
    // The request made once, as the readers' index and register file are: C allocates nothing.
    write: meter(() => {
      writer.write(writeRequest, out);
    }),
  };
}

type Round = { [K in keyof ReturnType<typeof meters>]: number } & { c?: CRates };

const all = cases();
const prepared = all.map(meters);
// The JS floor: the C reference's loads written out in JS at constant offsets over one
// BigUint64Array, no checks, folded into the sinks — the most any JS reader could reach here.
const probe = all[0]!;
const probeLayout = frameLayout(probe.t);
const sizes = (n: number) =>
  probeLayout.sigcontext.fields.filter(([, f]) => f.size === n).map(([, f]) => f.offset / n);
const floor = meter(
  new Function(
    'u64',
    'u16',
    'S',
    'N',
    `return () => {
       S[0] ^= ${sizes(8)
         .map((i) => `u64[${i}]`)
         .join(' ^ ')};
       N[0] ^= ${sizes(2)
         .map((i) => `u16[${i}]`)
         .join(' ^ ')};
     };`,
  )(
    new BigUint64Array(probe.bytes.buffer, probe.bytes.byteOffset, probe.bytes.byteLength >> 3),
    new Uint16Array(probe.bytes.buffer, probe.bytes.byteOffset, probe.bytes.byteLength >> 1),
    SINK64,
    SINK32,
  ),
);
const scParser = meter(() => {
  decode(sigcontext_64, dataModels.lp64, probe.bytes, SIGCONTEXT);
});

const rounds: Round[][] = all.map(() => []);
const floorRatios: number[] = [];
const parserRates: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, c] of all.entries()) {
    const ref = cReference(c);
    const m = prepared[i]!;
    const round = Object.fromEntries(Object.entries(m).map(([k, f]) => [k, f()])) as unknown as Round;
    if (ref) round.c = ref;
    rounds[i]!.push(round);
    if (i === 0 && ref) floorRatios.push(floor() / ref.decode_per_s);
  }
  parserRates.push(scParser());
}

const ratio = (rs: Round[], f: (x: Round) => number | undefined) => {
  const xs = rs.map(f).filter((x): x is number => x !== undefined);
  return xs.length ? spread(xs) : null;
};
const frames = all.map((c, i) => {
  const rs = rounds[i]!;
  const rate = (k: keyof ReturnType<typeof meters>) => Math.round(median(rs.map((x) => x[k])));
  return {
    name: c.name,
    kind: c.t.kind,
    bytes: c.bytes.length,
    reader_vs_c: ratio(rs, (x) => x.c && x.locate / x.c.decode_per_s)?.median ?? null,
    reader_vs_c_checked: ratio(rs, (x) => x.c && x.locate / x.c.checked_decode_per_s)?.median ?? null,
    readinto_vs_c_checked: ratio(rs, (x) => x.c && x.readInto / x.c.checked_decode_per_s)?.median ?? null,
    writer_vs_c: ratio(rs, (x) => x.c && x.write / x.c.build_per_s)?.median ?? null,
    decodeframe_per_s: rate('decodeFrame'),
    decodeframe_all_per_s: rate('decodeFrameAll'),
    locate_per_s: rate('locate'),
    // The profile of a zero-copy read, in ns a frame: locate() alone, the consumer's loads alone.
    locate_alone_ns: 1e9 / rate('locateAlone'),
    loads_alone_ns: 1e9 / rate('loadsAlone'),
    readinto_per_s: rate('readInto'),
    writer_per_s: rate('write'),
    buildframe_per_s: rate('buildFrame'),
    c_decode_per_s: rs[0]?.c ? Math.round(median(rs.map((x) => x.c!.decode_per_s))) : null,
    c_checked_decode_per_s: rs[0]?.c ? Math.round(median(rs.map((x) => x.c!.checked_decode_per_s))) : null,
    c_build_per_s: rs[0]?.c ? Math.round(median(rs.map((x) => x.c!.build_per_s))) : null,
    ranges: {
      reader_vs_c: ratio(rs, (x) => x.c && x.locate / x.c.decode_per_s),
      reader_vs_c_checked: ratio(rs, (x) => x.c && x.locate / x.c.checked_decode_per_s),
      writer_vs_c: ratio(rs, (x) => x.c && x.write / x.c.build_per_s),
      decodeframe_per_s: spread(rs.map((x) => x.decodeFrame)),
    },
  };
});
const x64Writers = frames.filter((f) => f.kind === 'x86_64' && !f.name.startsWith('spr'));
const ia32 = frames.find((f) => f.kind !== 'x86_64');

// Sizing a fleet: `size --all --profiles DIR` from the installed command over 1,000 files (the
// shipped profiles copied: a fleet repeats its CPU models), and the library call over 10, 100, 1,000.
const fleetDir = mkdtempSync(join(tmpdir(), 'sigframe-fleet-'));
const shipped = builtinProfileNames();
for (let i = 0; i < 1000; i++) {
  const name = shipped[i % shipped.length]!;
  copyFileSync(
    join(profilesDir, `${name}.json`),
    join(fleetDir, `${String(i).padStart(4, '0')}-${name}.json`),
  );
}
const bin = join(root, 'cli', 'bin.cjs');
if (!existsSync(join(root, 'dist', 'sigframe.cjs'))) throw new Error('run `npm run build` first');
spawnSync(process.execPath, [bin, '--version'], { stdio: 'ignore' });
function timeProcess(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${args.join(' ')}: exit ${r.status}`);
  return performance.now() - t0;
}
const sizeAllMs = median(
  Array.from({ length: 3 }, () => timeProcess([bin, 'size', '--all', '--profiles', fleetDir, '--json'])),
);
// A fleet as dumps from many machines are: 1,000 distinct CPUIDs (each copy with its own initial
// APIC ID, CPUID.1:EBX[31:24]). Until sizingKey() they were sized one by one; the model reads no
// APIC ID, so now they share their sizing as the copies do.
const distinctDir = mkdtempSync(join(tmpdir(), 'sigframe-fleet-distinct-'));
for (let i = 0; i < 1000; i++) {
  const name = shipped[i % shipped.length]!;
  const p = JSON.parse(readFileSync(join(profilesDir, `${name}.json`), 'utf8')) as {
    cpuid: { leaf: string; subleaf: number; ebx: string }[];
  };
  const leaf1 = p.cpuid.find((r) => Number(r.leaf) === 1 && r.subleaf === 0)!;
  const apic = Math.floor(i / shipped.length);
  leaf1.ebx = `0x${(((Number(leaf1.ebx) & 0x00ffffff) | (apic << 24)) >>> 0).toString(16).padStart(8, '0')}`;
  writeFileSync(join(distinctDir, `${String(i).padStart(4, '0')}-${name}.json`), JSON.stringify(p));
}
const sizeAllDistinctMs = median(
  Array.from({ length: 3 }, () => timeProcess([bin, 'size', '--all', '--profiles', distinctDir, '--json'])),
);
rmSync(distinctDir, { recursive: true, force: true });
const scaling = Object.fromEntries(
  [10, 100, 1000].map((n) => {
    const t0 = performance.now();
    sizeMatrix(
      { kind: 'x86_64', topAlign: 4096, config: { bits: 64 } },
      (function* () {
        let i = 0;
        for (const p of profilesInDir(fleetDir)) {
          if (i++ === n) return;
          yield p;
        }
      })(),
    );
    return [String(n), Math.round(performance.now() - t0)];
  }),
);
rmSync(fleetDir, { recursive: true, force: true });

// Bulk decoding: `sigframe decode --frame-size` over concatenations of 10^3, 10^5 (and, with
// --bulk 1000000, 10^6) copies of a captured frame, from the installed command: frames/s and the
// process's peak RSS, which must not grow with the count.
const bulkMax = Number(process.argv[process.argv.indexOf('--bulk') + 1] ?? 0) || 100_000;
const bulk: { frames: number; seconds: number; frames_per_s: number; peak_rss_mb: number }[] = [];
{
  const c = all[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'sigframe-bulk-'));
  const rss = join(dir, 'rss.cjs');
  writeFileSync(
    rss,
    'process.on("exit", () => require("node:fs").writeSync(2, "\\nmaxrss " + process.resourceUsage().maxRSS + "\\n"));\n',
  );
  const profile = join(root, 'test', 'fixtures', 'frames', 'host-profile.json');
  for (const n of [1000, 100_000, 1_000_000].filter((n) => n <= bulkMax)) {
    const file = join(dir, `frames-${n}.bin`);
    const chunk = Buffer.concat(Array.from({ length: 1000 }, () => c.bytes));
    const fd = openSync(file, 'w');
    for (let i = 0; i < n / 1000; i++) writeSync(fd, chunk);
    closeSync(fd);
    const args = [
      'decode',
      file,
      '--address',
      `0x${c.address.toString(16)}`,
      '--frame-size',
      String(c.bytes.length),
    ];
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['-r', rss, bin, ...args, '--profile', profile, '--json'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    const seconds = (performance.now() - t0) / 1000;
    const decoded = JSON.parse(r.stdout).decoded as number;
    if (decoded !== n) throw new Error(`bulk decode of ${n} frames decoded ${decoded}`);
    const kb = Number(/maxrss (\d+)/.exec(r.stderr)?.[1] ?? 0);
    bulk.push({
      frames: n,
      seconds: Math.round(seconds * 10) / 10,
      frames_per_s: Math.round(n / seconds),
      peak_rss_mb: Math.round(kb / 1024),
    });
    rmSync(file);
  }
  rmSync(dir, { recursive: true, force: true });
}

// Cold start: the installed command's --help against `node -e 0`, interleaved, median of 9.
const nodeMs: number[] = [];
const helpMs: number[] = [];
const sizeMs: number[] = [];
for (let i = 0; i < 9; i++) {
  nodeMs.push(timeProcess(['-e', '0']));
  helpMs.push(timeProcess([bin, '--help']));
  sizeMs.push(timeProcess([bin, 'size']));
}

const result = {
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
  },
  node: process.version,
  rounds: ROUNDS,
  window_cpu_s: WINDOW,
  frames,
  floor_vs_c: median(floorRatios),
  floor_vs_c_range: floorRatios.length ? spread(floorRatios) : null,
  ia32_writer_vs_x86_64:
    ia32 && x64Writers.length ? ia32.writer_per_s / median(x64Writers.map((f) => f.writer_per_s)) : null,
  sigcontext_binary_parser_per_s: Math.round(median(parserRates)),
  size_all_ms: Math.round(sizeAllMs),
  size_all_distinct_cpuids_ms: Math.round(sizeAllDistinctMs),
  size_all_library_ms: scaling,
  bulk_decode: bulk,
  cold_start_ratio: median(helpMs) / median(nodeMs),
  cold_start_ms: {
    node_e_0: Math.round(median(nodeMs)),
    help: Math.round(median(helpMs)),
    size: Math.round(median(sizeMs)),
  },
};

// --save FILE: the --json object into FILE as well, so one run gives README its table and the ranges.
const saveAt = process.argv.indexOf('--save');
const saveTo = process.argv[saveAt + 1];
if (saveAt > 0)
  writeFileSync(
    saveTo === undefined || saveTo.startsWith('--') ? 'bench.json' : saveTo,
    `${JSON.stringify(result, null, 2)}\n`,
  );
if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
else {
  const fmt = (n: unknown) =>
    typeof n !== 'number'
      ? '—'
      : n >= 100
        ? Math.round(n).toLocaleString('en')
        : n >= 1
          ? n.toFixed(1)
          : n.toFixed(2);
  const cols = [
    ['frame', 34],
    ['bytes', 6],
    ['locate/C', 9],
    ['(checked)', 9],
    ['readInto/C chk', 14],
    ['write/C', 8],
    ['decodeFrame/s', 13],
    ['+all read/s', 12],
    ['write/s', 10],
    ['buildFrame/s', 12],
  ] as const;
  console.log(cols.map(([h, w], i) => (i === 0 ? h.padEnd(w) : h.padStart(w))).join('  '));
  for (const f of frames) {
    const v = [
      f.name,
      f.bytes,
      f.reader_vs_c,
      f.reader_vs_c_checked,
      f.readinto_vs_c_checked,
      f.writer_vs_c,
      f.decodeframe_per_s,
      f.decodeframe_all_per_s,
      f.writer_per_s,
      f.buildframe_per_s,
    ];
    console.log(
      v.map((x, i) => (i === 0 ? String(x).padEnd(cols[i]![1]) : fmt(x).padStart(cols[i]![1]))).join('  '),
    );
  }
  const r = (s: Spread | null) => (s ? `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})` : '—');
  console.log(
    `\nmedians of ${ROUNDS} rounds, C and JS interleaved, ${WINDOW} CPU-s windows; ranges in --json (${result.machine.cpu}, ${result.machine.cores} cores, load ${result.machine.loadavg.join(' ')}, Node ${process.version})`,
  );
  console.log(`JS floor (the C reference's loads in JS, no checks): ${r(result.floor_vs_c_range)} of C`);
  console.log(
    `ns a frame, locate() alone + the consumer's loads alone | all | C checked: ${result.frames
      .filter((f) => f.c_checked_decode_per_s)
      .map(
        (f) =>
          `${f.name.replace(/^x86_64-/, '')} ${fmt(f.locate_alone_ns)} + ${fmt(f.loads_alone_ns)} | ${fmt(1e9 / f.locate_per_s)} | ${fmt(1e9 / f.c_checked_decode_per_s!)}`,
      )
      .join('; ')}`,
  );
  console.log(`ia32 writer: ${fmt(result.ia32_writer_vs_x86_64)} of the x86_64 writers' frames/s`);
  console.log(
    `size --all --profiles (1,000 files): ${result.size_all_ms} ms from the installed command (11 CPU models), ${result.size_all_distinct_cpuids_ms} ms (1,000 distinct CPUIDs, APIC IDs differing); library ${Object.entries(
      scaling,
    )
      .map(([n, ms]) => `${n}: ${ms} ms`)
      .join(', ')}`,
  );
  console.log(
    `bulk decode --frame-size (installed command): ${bulk.map((b) => `${b.frames.toLocaleString('en')} frames ${b.seconds} s (${b.frames_per_s.toLocaleString('en')}/s, peak RSS ${b.peak_rss_mb} MB)`).join('; ')}`,
  );
  console.log(
    `cold start (median of 9): node -e 0 ${result.cold_start_ms.node_e_0} ms, sigframe --help ${result.cold_start_ms.help} ms (${fmt(result.cold_start_ratio)}×), sigframe size ${result.cold_start_ms.size} ms`,
  );
}
