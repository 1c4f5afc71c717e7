/**
 * `npm run fuzz -- --runs N [--seed S] [--cli-every K] [--max-ms M]`: real captured frames, mutated (bit flips,
 * truncation, field-aware corruption of sizes, magics, XSTATE_BV, header words and the fpstate
 * pointer) and random bytes, through decodeFrame(), the compiled frameReader and — every K-th
 * input — `sigframe decode`. Every input must end in a result or a typed error that names an
 * offset or a member; none may throw anything else, take longer than the per-input bound, or grow
 * the heap without bound. An input that throws anything else or takes longer than M ms (250) is
 * minimized and written to test/fixtures/fuzz/, where the regression test runs it once its
 * expected outcome is recorded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FrameKindName, frameKinds } from '../layouts/frames.js';
import { decodeFrame } from '../src/frame/decode.js';
import { frameLayout, imageOffset } from '../src/frame/layout.js';
import { frameReader } from '../src/frame/reader.js';
import type { FrameTarget } from '../src/frame/target.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { SigframeError } from '../src/schema/errors.js';
import { fixture, root } from '../test/support/helpers.js';

export interface FuzzStats {
  runs: number;
  results: number;
  typedErrors: number;
  verdicts: Record<string, number>;
  slowestMs: number;
  maxHeapMb: number;
  cliRuns: number;
  crashers: string[];
}

/** A small, seedable PRNG (mulberry32): the same seed gives the same inputs. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Seed {
  name: string;
  bytes: Uint8Array;
  address: bigint;
  t: FrameTarget;
  fp: number;
}

function seeds(): Seed[] {
  const dir = fixture('frames');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'host-profile.json')
    .map((f) => {
      const { decoded, capture } = loadFrame(join(dir, f));
      return {
        name: f,
        bytes: capture!.memory.bytes,
        address: capture!.info.address,
        t: stateTarget(decoded.state),
        fp: Number((decoded.buf_fx ?? decoded.fpstate) - capture!.info.address),
      };
    });
}

type Mutator = (b: Uint8Array, s: Seed, r: () => number) => Uint8Array;
const int = (r: () => number, n: number) => Math.floor(r() * n);
const put32 = (b: Uint8Array, at: number, v: number) => {
  if (at >= 0 && at + 4 <= b.length) new DataView(b.buffer, b.byteOffset).setUint32(at, v >>> 0, true);
};
const put64 = (b: Uint8Array, at: number, v: bigint) => {
  if (at >= 0 && at + 8 <= b.length)
    new DataView(b.buffer, b.byteOffset).setBigUint64(at, BigInt.asUintN(64, v), true);
};
const interesting = [0, 1, 63, 64, 511, 512, 575, 576, 2047, 2048, 0x7fff_ffff, 0xffff_ffff];
const any32 = (r: () => number) => (r() < 0.5 ? interesting[int(r, interesting.length)]! : int(r, 2 ** 32));

const mutators: Record<string, Mutator> = {
  bitflips: (b, _s, r) => {
    for (let i = 1 + int(r, 8); i > 0; i--) b[int(r, b.length)]! ^= 1 << int(r, 8);
    return b;
  },
  truncate: (b, _s, r) => b.subarray(0, int(r, b.length)),
  xstate_size: (b, s, r) => {
    put32(b, s.fp + imageOffset('sw_reserved.xstate_size'), any32(r));
    return b;
  },
  extended_size: (b, s, r) => {
    put32(b, s.fp + imageOffset('sw_reserved.extended_size'), any32(r));
    return b;
  },
  magic1: (b, s, r) => {
    put32(b, s.fp + imageOffset('sw_reserved.magic1'), any32(r));
    return b;
  },
  magic2: (b, s, r) => {
    put32(b, s.fp + (r() < 0.5 ? s.t.task.userSize : int(r, b.length)), any32(r));
    return b;
  },
  xstate_bv: (b, s, r) => {
    put64(b, s.fp + imageOffset('header.xfeatures'), (BigInt(any32(r)) << 32n) | BigInt(any32(r)));
    return b;
  },
  header: (b, s, r) => {
    put64(b, s.fp + imageOffset('header.reserved1[0]') + 8 * int(r, 7), BigInt(any32(r)));
    return b;
  },
  fpstate_pointer: (b, s, r) => {
    const { offset: off, size } = frameLayout(s.t).fpstatePointer;
    const choices = [0n, s.address + BigInt(int(r, b.length + 64)), BigInt(any32(r)), 0xffff_ffff_ffff_f000n];
    const v = choices[int(r, choices.length)]!;
    if (size === 8) put64(b, off, v);
    else put32(b, off, Number(v & 0xffffffffn));
    return b;
  },
  random: (_b, _s, r) => Uint8Array.from({ length: int(r, 16384) }, () => int(r, 256)),
};
const names = Object.keys(mutators);

type Outcome = { kind: 'result'; verdict: string } | { kind: 'typed' } | { kind: 'crash'; error: string };

/** What decodeFrame() and the compiled reader make of one input. */
function outcome(input: Uint8Array, s: Seed, kind: FrameKindName): Outcome {
  try {
    const d = decodeFrame({
      memory: { address: s.address, bytes: input },
      kind,
      profile: s.t.profile,
      kernel: s.t.kernel,
      config: s.t.config,
    });
    if (kind === s.t.kind) frameReader(s.t).read(input, s.address);
    return { kind: 'result', verdict: d.verdict.verdict };
  } catch (e) {
    if (e instanceof SigframeError && (e.where.offset !== undefined || e.where.path !== undefined))
      return { kind: 'typed' };
    return { kind: 'crash', error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/**
 * The smallest input found that still `fails`: the tail cut off while it keeps failing, then runs
 * of bytes zeroed, halving the run length down to single bytes (delta debugging, bounded passes).
 */
export function minimize(input: Uint8Array, fails: (b: Uint8Array) => boolean): Uint8Array {
  let best = input;
  for (let cut = best.length >> 1; cut >= 1; cut >>= 1) {
    while (best.length - cut >= 0 && fails(best.subarray(0, best.length - cut)))
      best = best.subarray(0, best.length - cut);
  }
  best = Uint8Array.from(best);
  for (let run = Math.max(1, best.length >> 1); run >= 1; run >>= 1) {
    for (let at = 0; at < best.length; at += run) {
      const end = Math.min(best.length, at + run);
      if (best.subarray(at, end).every((b) => b === 0)) continue;
      const trial = Uint8Array.from(best);
      trial.fill(0, at, end);
      if (fails(trial)) best = trial;
    }
  }
  return best;
}

export function fuzz(
  runs: number,
  seed = 1,
  cliEvery = 0,
  crashDir = join(root, 'test', 'fixtures', 'fuzz'),
  maxMs = 250,
): FuzzStats {
  const r = rng(seed);
  const base = seeds();
  const kinds = Object.keys(frameKinds) as FrameKindName[];
  const stats: FuzzStats = {
    runs: 0,
    results: 0,
    typedErrors: 0,
    verdicts: {},
    slowestMs: 0,
    maxHeapMb: 0,
    cliRuns: 0,
    crashers: [],
  };
  const tmp = cliEvery > 0 ? mkdtempSync(join(tmpdir(), 'sigframe-fuzz-')) : '';
  for (let i = 0; i < runs; i++) {
    const s = base[int(r, base.length)]!;
    const how = names[int(r, names.length)]!;
    const input = mutators[how]!(Uint8Array.from(s.bytes), s, r);
    // Mostly the frame's own kind; sometimes a wrong one, as a user might pass --abi.
    const kind = r() < 0.9 ? s.t.kind : kinds[int(r, kinds.length)]!;
    const t0 = performance.now();
    const o = outcome(input, s, kind);
    const ms = performance.now() - t0;
    if (o.kind === 'result') {
      stats.results++;
      stats.verdicts[o.verdict] = (stats.verdicts[o.verdict] ?? 0) + 1;
    } else if (o.kind === 'typed') stats.typedErrors++;
    const failure =
      o.kind === 'crash' ? o.error : ms > maxMs ? `slow: ${ms.toFixed(0)} ms (bound ${maxMs} ms)` : '';
    if (failure) {
      // Shrink it to what still fails the same way, so the regression fixture shows the cause.
      const same = (b: Uint8Array) => {
        const t = performance.now();
        const p = outcome(b, s, kind);
        return o.kind === 'crash' ? p.kind === 'crash' && p.error === o.error : performance.now() - t > maxMs;
      };
      const small = minimize(input, same);
      mkdirSync(crashDir, { recursive: true });
      const file = join(crashDir, `crash-${seed}-${i}.bin`);
      writeFileSync(file, small);
      writeFileSync(
        `${file}.json`,
        JSON.stringify(
          {
            from: s.name,
            kind,
            mutator: how,
            address: `0x${s.address.toString(16)}`,
            failure,
            bytes: { found: input.length, minimized: small.length },
            expect: 'set this (error + offset, or verdict) once fixed',
          },
          null,
          2,
        ),
      );
      stats.crashers.push(file);
    }
    stats.slowestMs = Math.max(stats.slowestMs, ms);
    if (cliEvery > 0 && i % cliEvery === 0) {
      const f = join(tmp, 'in.bin');
      writeFileSync(f, input);
      const c = spawnSync(
        process.execPath,
        [
          // The installed command (the bundle, npm run build) when it is there; else the source.
          ...(existsSync(join(root, 'dist', 'sigframe.cjs'))
            ? [join(root, 'cli', 'bin.cjs')]
            : ['--import', 'tsx', join(root, 'cli', 'main.ts')]),
          'decode',
          f,
          '--address',
          `0x${s.address.toString(16)}`,
          '--abi',
          kind,
          '--profile',
          fixture('frames', 'host-profile.json'),
          '--kernel',
          '6.18',
          '--json',
        ],
        { encoding: 'utf8', cwd: root, timeout: 30_000 },
      );
      stats.cliRuns++;
      if (!(c.status === 0 || c.status === 2) || /internal error|\n\s+at /.test(c.stderr)) {
        stats.crashers.push(`cli: exit ${c.status} ${c.stderr.slice(0, 200)}`);
      }
    }
    if (i % 1000 === 0) stats.maxHeapMb = Math.max(stats.maxHeapMb, process.memoryUsage().heapUsed / 2 ** 20);
    stats.runs++;
  }
  return stats;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : def;
  };
  const runs = arg('runs', 100_000);
  const t0 = performance.now();
  const stats = fuzz(runs, arg('seed', 1), arg('cli-every', 20_000), undefined, arg('max-ms', 250));
  const secs = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({ ...stats, seconds: Math.round(secs), inputs_per_s: Math.round(runs / secs) }, null, 2),
  );
  process.exitCode = stats.crashers.length === 0 ? 0 : 1;
}
