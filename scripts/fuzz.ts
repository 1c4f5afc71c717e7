/**
 * `npm run fuzz -- [--target T] --runs N [--start I] [--seed S] [--workers W] [--seconds D] [--max-ms M]`.
 * `--start I` runs inputs I..I+N-1, so a long run can be done in pieces (each summary gives its
 * `first` and `next` index; pieces of one seed that meet are one run).
 *
 * Targets (`--target`, default `frames`; `all` runs each in turn):
 *  - frames: real captured frames, mutated (bit flips, truncation, field-aware corruption of
 *    sizes, magics, XSTATE_BV, header words and the fpstate pointer) and random bytes, through
 *    decodeFrame(), the compiled frameReader and — every K-th input (`--cli-every K`, only
 *    without `--target`) — `sigframe decode`;
 *  - cpuid: the committed CPUID dumps (AIDA64/InstLatx64 text, `cpuid -r`) and their JSON forms
 *    (record objects, tuples, `{cpuid: […]}`, sigframe-profile/1 files), mutated by line, by
 *    register word (leaf 0xD above all), by byte and structurally, through profileFromDump() (which
 *    runs parseDump()) and the frame target the profile gives;
 *  - build: `sigframe decode --json` of every committed capture, mutated structurally (keys
 *    dropped, types changed, huge and negative numbers, huge arrays, deep nesting, members of
 *    other frames spliced in, other kinds/profiles/kernels), written to a file and read as
 *    `sigframe build` does: loadState(), stateTarget(), buildReport();
 *  - convert: those states through loadFrame() and convertFrame() to a shipped profile or a
 *    mutated CPUID dump, and mutated XSAVE images through convertXsaveImage();
 *  - diff: two such files as `sigframe diff` reads them: loadFrame() each, diffValues().
 *
 * Every input must end in a result or a SigframeError (InputError, DecodeError, SchemaError,
 * ConvertRefused; for frames one that names an offset or a member). Anything else — another
 * exception, an input taking longer than M ms (1000; frames 250), a worker stuck (killed after
 * 10 s, or M×10), one running out of its heap (--heap-mb, 2048) — is a failure: printed with its
 * target, seed and index (`--only I --seed S` replays it), written (minimized where the input is
 * bytes or lines) to --crash-dir ($TMPDIR/sigframe-fuzz/), and the run exits 1. Input I of seed S is
 * the same whatever the worker count: each input has its own PRNG, seeded from (S, I).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { type FrameKindName, frameKinds } from '../layouts/frames.js';
import { profilesDir } from '../layouts/paths.js';
import { parseDump } from '../src/cpuid/parse.js';
import { decodeFrame } from '../src/frame/decode.js';
import { frameLayout, imageOffset } from '../src/frame/layout.js';
import { frameReader } from '../src/frame/reader.js';
import type { FrameTarget } from '../src/frame/target.js';
import { frameTarget } from '../src/frame/target.js';
import { loadFrame, loadState, stateTarget } from '../src/io/frames.js';
import { builtinProfileNames, loadProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import type { KernelConfig } from '../src/kernel/xstate.js';
import { profileFromDump } from '../src/profile/dump.js';
import { buildReport } from '../src/report/build.js';
import { convertFrame, convertXsaveImage } from '../src/report/convert.js';
import { cpuidReport } from '../src/report/cpuid.js';
import { diffValues } from '../src/schema/diff.js';
import { SigframeError } from '../src/schema/errors.js';
import { toJson } from '../src/schema/json.js';
import { XSTATE_BV_OFFSET } from '../src/xsave/catalog.js';
import { fixture, root } from '../test/support/helpers.js';

/** XCOMP_BV follows XSTATE_BV in the XSAVE header. */
const XCOMP_BV_OFFSET = XSTATE_BV_OFFSET + 8;

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
    // Every part, those made on first read too (the frame struct, the FXSAVE image, the
    // components, the registers), as `decode --json` prints them.
    toJson(d);
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

// ---- Targets beyond frames: CPUID dumps, states (build), convert, diff ------------------------

export type TargetName = 'frames' | 'cpuid' | 'build' | 'convert' | 'diff';
export const targetNames: readonly TargetName[] = ['frames', 'cpuid', 'build', 'convert', 'diff'];

/** One input: the files it consists of (written where the target reads files) and its options. */
export interface FuzzInput {
  files: Record<string, string | Uint8Array>;
  params: Record<string, unknown>;
}

export type Verdict =
  | { kind: 'ok'; label: string }
  | { kind: 'typed'; name: string }
  | { kind: 'crash'; error: string; stack: string };

interface Target {
  make(r: () => number): FuzzInput;
  /** Runs the input as the command would: a short label for the result, or it throws. */
  run(input: FuzzInput, dir: string): string;
  /** Whether a throw is an accepted outcome (default: any SigframeError). */
  typed?(e: unknown): boolean;
  /** Shrinks a crashing input while `fails` holds (optional). */
  shrink?(input: FuzzInput, fails: (i: FuzzInput) => boolean): FuzzInput;
}

/** Input i of seed s has its own PRNG, so it is the same whatever the worker split or run length. */
export function inputRng(seed: number, index: number): () => number {
  let h = Math.imul((seed >>> 0) ^ 0x85ebca6b, 0x9e3779b1) ^ Math.imul(index >>> 0, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return rng((h ^ (h >>> 16)) + Math.floor(index / 2 ** 32));
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const lazy = <T>(f: () => T) => {
  let v: T | undefined;
  return () => {
    v ??= f();
    return v;
  };
};

// ---- JSON, structurally -----------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

/** Marker strings replaced after JSON.stringify by text too deep or too long to build as values. */
const DEEP = '\u0001deep:';
const HUGE = '\u0001huge:';

function jsonText(v: Json): string {
  try {
    return expandMarkers(JSON.stringify(v));
  } catch (e) {
    // Markers that would expand past V8's longest string: the input is made without them.
    if (e instanceof RangeError) return JSON.stringify(v).replace(/"\\u0001(deep|huge):[[{]:\d+"/g, 'null');
    throw e;
  }
}

function expandMarkers(text: string): string {
  if (!text.includes('\\u0001')) return text;
  return text.replace(/"\\u0001(deep|huge):([[{]):(\d+)"/g, (_, what: string, open: string, n: string) => {
    const count = Number(n);
    if (what === 'deep')
      return open === '['
        ? `${'['.repeat(count)}${']'.repeat(count)}`
        : `${'{"a":'.repeat(count)}0${'}'.repeat(count)}`;
    return open === '['
      ? `[${Array(count).fill('0').join(',')}]`
      : `{${Array.from({ length: count }, (_, i) => `"k${i}":0`).join(',')}}`;
  });
}

function nodePaths(v: Json, path: Path, out: Path[], limit: number): void {
  if (out.length >= limit) return;
  out.push(path);
  if (Array.isArray(v)) for (let i = 0; i < v.length; i++) nodePaths(v[i]!, [...path, i], out, limit);
  else if (v !== null && typeof v === 'object')
    for (const k of Object.keys(v)) nodePaths(v[k]!, [...path, k], out, limit);
}

function getAt(v: Json, path: Path): Json | undefined {
  let cur: Json | undefined = v;
  for (const k of path) {
    // Own members only: a path through "constructor" must not reach Object.prototype's.
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, Json>)[k as string];
  }
  return cur;
}

/** Sets (or with `undefined`, removes) the node at path; returns the new root. */
function setAt(root: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const parent = getAt(root, path.slice(0, -1));
  const k = path.at(-1)!;
  if (Array.isArray(parent)) {
    if (value === undefined) parent.splice(k as number, 1);
    else parent[k as number] = value;
  } else if (parent !== null && typeof parent === 'object') {
    if (value === undefined) delete parent[k as string];
    else Object.defineProperty(parent, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

const WEIRD: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  0.5,
  -0.0,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 64,
  -(2 ** 63),
  1e308,
  -1e308,
  '',
  'x',
  '0x',
  '-0x1',
  '0x0',
  '0xffffffffffffffff',
  '0x10000000000000000',
  `0x${'f'.repeat(64)}`,
  '1e400',
  'NaN',
  ' 0x10',
  '0X10',
  '00',
  'ff',
  'zz',
  '\u0000',
  '__proto__',
  [],
  {},
  [0],
  [[]],
  { a: 1 },
];
const HEX_VALUES = [
  '0x0',
  '0x1',
  '0x7f',
  '0x80',
  '0xff',
  '0x200',
  '0x240',
  '0x340',
  '0x1000',
  '0x2000',
  '0x7fffffff',
  '0x80000000',
  '0xffffffff',
  '0x100000000',
  '0x7fffffffffffffff',
  '0x8000000000000000',
  '0xffffffffffffffff',
  '0x10000000000000000',
  '0xfffffffffffff000',
  '-0x1',
  '0x',
  '0xg',
];
const kernelsToTry = [
  '6.18',
  '6.18.44',
  '6.12',
  '6.8',
  '6.1',
  '5.15',
  '5.4',
  '4.19',
  '4.14',
  '3.10',
  '2.6.32',
  '7.3.4',
  '99.99',
  '0.1',
  '6',
  '6.',
  'x',
  '',
  '6.18.44-generic',
  '1'.repeat(40),
  '-1.0',
  '6.18.44.1.2.3',
];
const profileRefs = lazy(() => [
  ...builtinProfileNames(),
  'host',
  fixture('frames', 'host-profile.json'),
  fixture('frames', 'avx2', 'host-profile.json'),
  fixture('cpuid', 'host-kvm-intel-xeon-amx.cpuid-r.txt'),
  fixture('cpuid', 'GenuineIntel00506C9_Goldmont_CPUID.txt'),
  '/',
  '/nonexistent/profile.json',
  '',
  'no-such-profile',
]);
/** Values for members whose meaning is a choice: every valid one and a few that are not. */
const ENUMS: Record<string, () => Json[]> = {
  kind: () => [...Object.keys(frameKinds), 'x86', ''],
  amx: () => ['none', 'permitted', 'used', 'maybe'],
  profile: profileRefs,
  kernel: () => kernelsToTry,
  kernel_bits: () => ['64', '32', '16', 64],
  format: () => ['sigframe-state/1', 'sigframe-capture/1', 'sigframe-profile/1', 'sigframe-state/2'],
  ia32_emulation: () => [true, false, 'no'],
  onstack: () => [true, false, 0],
  flags: () => [0, 1, 2, 4, 0x80000000, 0x80000001, -2147483647, -1, 0xffffffff, 2 ** 32],
  si_signo: () => [0, 1, 10, 11, 31, 32, 64, 65, -1],
  si_code: () => [0, -1, -6, 1, 2, 3, 0x80, -60, 2 ** 31],
  altstack: () => [
    null,
    { sp: '0x1000', size: '0x0', flags: 0 },
    { sp: '0xfffffffffffff000', size: '0xffffffffffffffff', flags: 2 },
  ],
  fpu: () => [null],
  siginfo: (): Json[] => [{ si_signo: 11, si_code: 1, si_addr: '0x0' }, { si_signo: 10 }, {}, null],
};

function numberLike(v: Json, r: () => number): Json {
  if (typeof v === 'number') {
    return pick(r, [
      0,
      -1,
      1,
      v + 1,
      v - 1,
      -v,
      v * 2 ** 16,
      2 ** 31,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53,
      2 ** 64,
      -(2 ** 63),
      1e308,
      0.5,
      int(r, 2 ** 32),
    ]);
  }
  if (typeof v === 'string' && /^0x[0-9a-f]+$/i.test(v)) {
    if (r() < 0.3) return `0x${(BigInt(v) ^ (1n << BigInt(int(r, 66)))).toString(16)}`;
    return pick(r, HEX_VALUES);
  }
  if (typeof v === 'string' && /^([0-9a-f]{2})+$/i.test(v)) {
    // A byte blob (registers, _sifields): the wrong length, an odd length, a non-hex digit.
    return pick(r, [
      v.slice(0, -2),
      `${v}00`,
      v.slice(1),
      `${v.slice(0, -1)}g`,
      v + v,
      '',
      'ff'.repeat(1 + int(r, 600)),
    ]);
  }
  return structuredClone(pick(r, WEIRD));
}

/** Structural changes by weight: the heavy ones (4: long arrays, 5: deep or huge text) rarer. */
const OPS = [0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9];

/** 1–4 structural changes (half the time one) to a copy of `seed`, some spliced in from `donors`. */
function mutateJson(seed: Json, donors: readonly Json[], r: () => number, under: Path = []): Json {
  let root = structuredClone(seed);
  for (let n = r() < 0.5 ? 1 : 1 + int(r, 4); n > 0; n--) {
    const all: Path[] = [];
    const base = getAt(root, under);
    nodePaths(base === undefined ? root : base, base === undefined ? [] : under, all, 20_000);
    const path = pick(r, all);
    const node = getAt(root, path)!;
    const key = path.at(-1);
    const op = pick(r, OPS);
    if (op === 0 && path.length > 0) root = setAt(root, path, undefined);
    else if (op === 1) root = setAt(root, path, structuredClone(pick(r, WEIRD)));
    else if (op === 2 || op === 3) {
      // Own keys only: a mutated state may have a key such as __proto__ or constructor.
      const e = typeof key === 'string' && Object.hasOwn(ENUMS, key) ? ENUMS[key] : undefined;
      root = setAt(root, path, e && op === 2 ? structuredClone(pick(r, e())) : numberLike(node, r));
    } else if (op === 4 && Array.isArray(node) && node.length > 0) {
      // A longer array: one more element, twice as many, or thousands.
      // At most 10^5 elements: doubling a doubled array again once took the maker 30 s and 1.3 GB.
      const len = Math.min(
        100_000,
        pick(r, [node.length + 1, node.length + 1, node.length * 2, 1000, 1000, 100_000]),
      );
      const last = node.at(-1)!;
      root = setAt(
        root,
        path,
        // Copies, not one shared object: a later change to one element (a marker) must not
        // become 10^5 changes (that once made the maker run 30 s and expand a 60 GB text).
        Array.from({ length: len }, (_, i) => (i < node.length ? node[i]! : structuredClone(last))),
      );
    } else if (op === 5) {
      const count = pick(r, [10, 100, 1000, 1000, 10_000, 100_000]);
      root = setAt(root, path, `${r() < 0.6 ? DEEP : HUGE}${r() < 0.5 ? '[' : '{'}:${count}`);
    } else if (op === 6) {
      // Crossover: the same member of another frame (another kind, another CPU), or any subtree.
      const donor = pick(r, donors);
      const same = getAt(donor, path);
      if (same !== undefined && r() < 0.7) root = setAt(root, path, structuredClone(same));
      else {
        const dp: Path[] = [];
        nodePaths(donor, [], dp, 5000);
        root = setAt(root, path, structuredClone(getAt(donor, pick(r, dp)) ?? null));
      }
    } else if (op === 7 && node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const k = pick(r, [
        'extra',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        '',
        'state',
        'frame',
        'siginfo',
        'pkru',
      ]);
      root = setAt(root, [...path, k], structuredClone(pick(r, WEIRD)));
    } else if (op === 8 && Array.isArray(node) && node.length > 1) {
      const a = int(r, node.length);
      const b = int(r, node.length);
      [node[a], node[b]] = [node[b]!, node[a]!];
    } else root = setAt(root, path, numberLike(node, r));
  }
  return root;
}

/** Text damage: cut short, bytes flipped, characters inserted. */
function mutateText(text: string, r: () => number): string {
  const at = int(r, text.length + 1);
  switch (int(r, 4)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return `${text.slice(0, at)}${String.fromCharCode(int(r, 128))}${text.slice(at + 1)}`;
    case 2:
      return `${text.slice(0, at)}${pick(r, ['{', '}', '[', ']', ',', '"', ':', '\\', '\n', '\r', '\t', '\u00e9', '\ud800', '\ufeff'])}${text.slice(at)}`;
    default:
      return `${'\ufeff \n'.slice(int(r, 3))}${text}`;
  }
}

const WHOLE_FILES = [
  'null',
  '[]',
  '{}',
  '1',
  '"x"',
  'true',
  '{"state":null}',
  '{"state":[]}',
  '{"state":1}',
  '{"format":"sigframe-state/1"}',
  '{"format":"sigframe-capture/1"}',
  '{"format":"sigframe-capture/1","bin":"../../../../etc/passwd"}',
  '{"state":{"format":"sigframe-state/1"}}',
  '',
];

// ---- the seeds: decode --json of every capture ------------------------------------------------

interface StateSeed {
  name: string;
  decode: Json;
  image: Uint8Array | undefined;
  profile: string;
}

const stateSeeds = lazy((): StateSeed[] => {
  const dirs = [fixture('frames'), fixture('frames', 'avx2')];
  return dirs.flatMap((dir) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json') && f !== 'host-profile.json')
      .map((f) => {
        const { decoded, capture } = loadFrame(join(dir, f));
        const off = decoded.buf_fx === null ? -1 : Number(decoded.buf_fx - capture!.info.address);
        const size = decoded.sw_reserved?.xstate_size ?? 576;
        return {
          name: join(dir === fixture('frames') ? '' : 'avx2', f),
          decode: JSON.parse(toJson(decoded)) as Json,
          image: off < 0 ? undefined : Uint8Array.from(capture!.memory.bytes.subarray(off, off + size)),
          profile: decoded.state.profile,
        };
      }),
  );
});

/** A state file: a whole `decode --json` output or its state, changed structurally, now and then as text. */
function stateFile(r: () => number): { text: string; from: string } {
  const seeds = stateSeeds();
  const s = pick(r, seeds);
  if (r() < 0.02) return { text: pick(r, WHOLE_FILES), from: s.name };
  const donors = seeds.map((x) => x.decode);
  const whole = r() < 0.5;
  const base = whole ? s.decode : ((s.decode as Record<string, Json>).state as Json);
  const v = r() < 0.05 ? base : mutateJson(base, donors, r, whole && r() < 0.9 ? ['state'] : []);
  let text = jsonText(v);
  if (r() < 0.05) text = mutateText(text, r);
  return { text, from: s.name };
}

const configs: KernelConfig[] = [
  { bits: 64 },
  { bits: 64, ia32Emulation: false },
  { bits: 32 },
  { bits: 64, strictSasSize: true },
];

// ---- CPUID dumps ------------------------------------------------------------------------------

interface DumpSeed {
  name: string;
  text?: string;
  json?: Json;
}

const dumpSeeds = lazy((): DumpSeed[] => {
  const dir = fixture('cpuid');
  const texts = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
  const hex = (n: number) => `0x${n.toString(16)}`;
  const jsons = texts.flatMap(({ name, text }, i): DumpSeed[] => {
    const recs = parseDump(text, name).cpuid.records;
    const forms: Json[] = [
      recs.map((x) => ({
        leaf: hex(x.leaf),
        subleaf: hex(x.subleaf),
        eax: hex(x.eax),
        ebx: hex(x.ebx),
        ecx: hex(x.ecx),
        edx: hex(x.edx),
      })),
      recs.map((x) => [x.leaf, x.subleaf, x.eax, x.ebx, x.ecx, x.edx]),
      {
        cpuid: recs.map((x) => ({
          leaf: x.leaf,
          subleaf: x.subleaf,
          eax: x.eax,
          ebx: x.ebx,
          ecx: x.ecx,
          edx: x.edx,
        })),
      },
    ];
    return [{ name: `${name}.json`, json: forms[i % forms.length]! }];
  });
  const profiles = builtinProfileNames().map((n) => ({
    name: `${n}.json`,
    json: JSON.parse(readFileSync(join(profilesDir, `${n}.json`), 'utf8')) as Json,
  }));
  return [...texts, ...texts, ...jsons, ...profiles];
});

const WORDS = [
  '00000000',
  'FFFFFFFF',
  '00000001',
  '00000040',
  '00000240',
  '00000340',
  '00000A88',
  '00002000',
  '00010000',
  '80000000',
  '7FFFFFFF',
  '000002E7',
  '00060000',
  '0000FFFF',
];
const HEXLINE = /^(CPUID [0-9A-Fa-f]{8}:|\s*0x[0-9a-fA-F]{8}\s+0x)/;

/** 1–4 changes by line, by register word, by character. */
function mutateDump(text: string, others: readonly string[], r: () => number): string {
  let lines = text.split('\n');
  const cpuidLines = () => lines.flatMap((l, i) => (HEXLINE.test(l) ? [i] : []));
  for (let n = 1 + int(r, 4); n > 0; n--) {
    const at = int(r, lines.length);
    switch (int(r, 11)) {
      case 0:
        lines.splice(at, 1 + int(r, r() < 0.9 ? 4 : lines.length));
        break;
      case 1: {
        // A block repeated: a few times, or to a few MiB (the file limit is 4 MiB).
        const block = lines.slice(at, at + 1 + int(r, 40));
        // Bounded in lines too: a block of empty lines, or a second repetition of a repeated
        // block, once made 8 million lines and 1.3 GB before sigframe saw the input.
        const times =
          r() < 0.9
            ? 1 + int(r, 4)
            : Math.floor(
                Math.min(
                  (3 << 20) / Math.max(1, block.join('\n').length),
                  Math.max(0, 200_000 - lines.length) / block.length,
                ),
              );
        // concat, not splice(...spread): millions of arguments overflow the call stack.
        lines = lines
          .slice(0, at)
          .concat(Array.from({ length: Math.min(times, 200_000) }, () => block).flat(), lines.slice(at));
        break;
      }
      case 2: {
        const b = int(r, lines.length);
        [lines[at], lines[b]] = [lines[b]!, lines[at]!];
        break;
      }
      case 3: {
        const o = pick(r, others).split('\n');
        lines.splice(at, 0, o[int(r, o.length)]!);
        break;
      }
      case 4:
      case 5:
      case 6: {
        // A register word: leaf 0xD's most of the time, where sizes and offsets come from.
        const cl = cpuidLines();
        if (cl.length === 0) break;
        const d = cl.filter((i) => /(CPUID 0000000D|0x0000000d)/i.test(lines[i]!));
        const i = pick(r, d.length > 0 && r() < 0.6 ? d : cl);
        const words = [...lines[i]!.matchAll(/(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?![0-9A-Fa-f])/g)];
        if (words.length === 0) break;
        const w = pick(r, words);
        const lower = /[a-f]/.test(lines[i]!) && !/[A-F]/.test(lines[i]!);
        let v =
          r() < 0.5
            ? pick(r, WORDS)
            : int(r, 2 ** 32)
                .toString(16)
                .padStart(8, '0');
        v = lower ? v.toLowerCase() : v.toUpperCase();
        lines[i] = lines[i]!.slice(0, w.index) + v + lines[i]!.slice(w.index! + 8);
        break;
      }
      case 7: {
        const cl = cpuidLines();
        if (cl.length === 0) break;
        const i = pick(r, cl);
        lines[i] = lines[i]!.replace(
          /\[SL [0-9A-Fa-f]{1,2}\]/,
          `[SL ${int(r, 256).toString(16).toUpperCase().padStart(2, '0')}]`,
        ).replace(
          /(0x[0-9a-fA-F]{8}\s+)0x[0-9a-fA-F]{2,8}:/,
          (_, a) =>
            `${a}0x${int(r, 2 ** 32)
              .toString(16)
              .padStart(2 + 6 * int(r, 2), '0')}:`,
        );
        break;
      }
      case 8:
        lines.splice(
          at,
          0,
          pick(r, [
            'CPU 1:',
            'CPU:',
            '   0x00000000 0x00: eax=0x0000000d ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69',
            'CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69',
            'CPUID 0000000D: 00000000-00000000-00000000-00000000 [SL 00]',
            'CPUID 0000000D:',
            '   0x0000000d 0x00: eax=0x',
            '',
            '\t',
            'garbage',
            `CPUID ${'F'.repeat(8)}: ${'-FFFFFFFF'.repeat(4).slice(1)} [SL FF]`,
          ]),
        );
        break;
      case 9: {
        const l = lines[at] ?? '';
        const c = int(r, l.length + 1);
        lines[at] = l.slice(0, c) + String.fromCharCode(int(r, 128)) + l.slice(c + 1);
        break;
      }
      default:
        lines = mutateText(lines.join('\n'), r).split('\n');
    }
  }
  return lines.join(r() < 0.05 ? '\r\n' : '\n');
}

function dumpText(r: () => number): { text: string; from: string } {
  const seeds = dumpSeeds();
  const s = pick(r, seeds);
  if (s.text !== undefined) {
    const others = seeds.flatMap((x) => (x.text ? [x.text] : []));
    return { text: r() < 0.02 ? s.text : mutateDump(s.text, others, r), from: s.name };
  }
  const donors = seeds.flatMap((x) => (x.json ? [x.json] : []));
  let text = jsonText(mutateJson(s.json!, donors, r));
  if (r() < 0.05) text = mutateText(text, r);
  return { text, from: s.name };
}

/** Delta debugging by lines: chunks removed, halving, while the input still fails. */
function shrinkLines(text: string, fails: (t: string) => boolean): string {
  let lines = text.split('\n');
  for (let chunk = Math.max(1, lines.length >> 1); chunk >= 1; chunk >>= 1) {
    for (let at = 0; at < lines.length; ) {
      const trial = [...lines.slice(0, at), ...lines.slice(at + chunk)];
      if (trial.length < lines.length && fails(trial.join('\n'))) lines = trial;
      else at += chunk;
    }
  }
  return lines.join('\n');
}

const writeFiles = (input: FuzzInput, dir: string) => {
  for (const [name, data] of Object.entries(input.files)) writeFileSync(join(dir, name), data);
};
const kernelParam = (p: Record<string, unknown>) =>
  p.kernel === null ? undefined : (p.kernel as string | undefined);

export const targets: Record<TargetName, Target> = {
  frames: {
    make(r) {
      const base = frameSeeds();
      const s = base[int(r, base.length)]!;
      const how = names[int(r, names.length)]!;
      const bytes = mutators[how]!(Uint8Array.from(s.bytes), s, r);
      const kinds = Object.keys(frameKinds) as FrameKindName[];
      const kind = r() < 0.9 ? s.t.kind : kinds[int(r, kinds.length)]!;
      return {
        files: { 'frame.bin': bytes },
        params: { from: s.name, kind, mutator: how, address: `0x${s.address.toString(16)}` },
      };
    },
    run(input) {
      const s = frameSeeds().find((x) => x.name === input.params.from)!;
      const o = outcome(input.files['frame.bin'] as Uint8Array, s, input.params.kind as FrameKindName);
      if (o.kind === 'crash') throw new Error(o.error);
      if (o.kind === 'typed') throw new FramesTyped();
      return o.verdict;
    },
    typed: (e) => e instanceof FramesTyped,
    shrink(input, fails) {
      const small = minimize(input.files['frame.bin'] as Uint8Array, (b) =>
        fails({ ...input, files: { 'frame.bin': b } }),
      );
      return { ...input, files: { 'frame.bin': small } };
    },
  },
  cpuid: {
    make(r) {
      const { text, from } = dumpText(r);
      return {
        files: { 'dump.txt': text },
        params: { from, kernel: r() < 0.5 ? null : pick(r, kernelsToTry), config: int(r, configs.length) },
      };
    },
    run(input) {
      const text = input.files['dump.txt'] as string;
      const p = profileFromDump(text, 'dump.txt');
      const kernel = chooseKernel(kernelParam(input.params));
      const config = configs[input.params.config as number]!;
      const report = cpuidReport(p, kernel, config);
      toJson(report);
      for (const kind of ['x86_64', 'ia32'] as const) frameTarget(kind, p, kernel, config, 'none');
      return report.findings.some((f) => f.level === 'error') ? 'profile with errors' : 'profile';
    },
    shrink(input, fails) {
      const text = shrinkLines(input.files['dump.txt'] as string, (t) =>
        fails({ ...input, files: { 'dump.txt': t } }),
      );
      return { ...input, files: { 'dump.txt': text } };
    },
  },
  build: {
    make(r) {
      const { text, from } = stateFile(r);
      return { files: { 'state.json': text }, params: { from } };
    },
    run(input, dir) {
      writeFiles(input, dir);
      const state = loadState(join(dir, 'state.json'));
      const { report } = buildReport(state, stateTarget(state));
      return `built ${report.kind}`;
    },
  },
  convert: {
    make(r): FuzzInput {
      const kernel = r() < 0.5 ? null : pick(r, kernelsToTry);
      const config = int(r, configs.length);
      const refs = builtinProfileNames();
      if (r() < 0.3) {
        // An XSAVE image saved on one CPU, for another.
        const seeds = stateSeeds().filter((s) => s.image);
        const s = pick(r, seeds);
        let img = Uint8Array.from(s.image!);
        const dv = () => new DataView(img.buffer, img.byteOffset);
        switch (int(r, 7)) {
          case 0:
            for (let i = 1 + int(r, 8); i > 0; i--)
              if (img.length) img[int(r, img.length)]! ^= 1 << int(r, 8);
            break;
          case 1:
            img = img.subarray(0, int(r, img.length + 1));
            break;
          case 2:
            if (img.length >= XCOMP_BV_OFFSET)
              dv().setBigUint64(XSTATE_BV_OFFSET, (BigInt(any32(r)) << 32n) | BigInt(any32(r)), true);
            break;
          case 3:
            if (img.length >= XCOMP_BV_OFFSET + 8)
              dv().setBigUint64(
                XCOMP_BV_OFFSET,
                r() < 0.5 ? 1n << 63n : (BigInt(any32(r)) << 32n) | BigInt(any32(r)),
                true,
              );
            break;
          case 4: {
            const big = new Uint8Array(img.length + int(r, 16384));
            big.set(img);
            for (let i = img.length; i < big.length; i++) big[i] = int(r, 256);
            img = big;
            break;
          }
          case 5:
            img = Uint8Array.from({ length: int(r, 12000) }, () => int(r, 256));
            break;
          default:
        }
        const from = r() < 0.7 && refs.includes(s.profile) ? s.profile : pick(r, refs);
        return {
          files: { 'image.bin': img },
          params: { mode: 'image', from: s.name, fromProfile: from, to: pick(r, refs), kernel, config },
        };
      }
      const { text, from } = stateFile(r);
      if (r() < 0.15) {
        const d = dumpText(r);
        return {
          files: { 'state.json': text, 'to.txt': d.text },
          params: { mode: 'state', from, to: 'to.txt', dump: d.from, kernel, config },
        };
      }
      return {
        files: { 'state.json': text },
        params: { mode: 'state', from, to: r() < 0.05 ? 'host' : pick(r, refs), kernel, config },
      };
    },
    run(input, dir) {
      writeFiles(input, dir);
      const p = input.params;
      const config = configs[p.config as number]!;
      const toRef = p.to === 'to.txt' ? join(dir, 'to.txt') : (p.to as string);
      if (p.mode === 'image') {
        const image = readFileSync(join(dir, 'image.bin'));
        const out = convertXsaveImage(
          new Uint8Array(image),
          loadProfile(p.fromProfile as string),
          loadProfile(toRef),
          kernelParam(p),
          config,
        );
        return `image ${out.length > image.length ? 'grew' : 'same or smaller'}`;
      }
      const to = loadProfile(toRef);
      const { decoded } = loadFrame(
        join(dir, 'state.json'),
        kernelParam(p) ? { kernel: kernelParam(p)! } : {},
      );
      const { report } = convertFrame(decoded.state, to, toRef, kernelParam(p), config);
      toJson(report);
      return 'converted';
    },
  },
  diff: {
    make(r) {
      const a = stateFile(r);
      const b =
        r() < 0.4 ? stateFile(r) : { text: jsonText(pick(r, stateSeeds()).decode), from: 'unchanged' };
      return { files: { 'a.json': a.text, 'b.json': b.text }, params: { from: a.from, b: b.from } };
    },
    run(input, dir) {
      writeFiles(input, dir);
      const a = loadFrame(join(dir, 'a.json')).decoded;
      const b = loadFrame(join(dir, 'b.json')).decoded;
      const d = diffValues(
        { state: a.state, verdict: a.verdict.verdict },
        { state: b.state, verdict: b.verdict.verdict },
      );
      return d.length === 0 ? 'same' : 'differ';
    },
  },
};

/** The frames target's accepted outcome: a SigframeError naming an offset or a member. */
class FramesTyped extends Error {}

const frameSeeds = lazy(seeds);

/** How one input ends: a result, an accepted (typed) error, or anything else. */
export function classify(name: TargetName, input: FuzzInput, dir: string): Verdict {
  const t = targets[name];
  try {
    return { kind: 'ok', label: t.run(input, dir) };
  } catch (e) {
    if (t.typed ? t.typed(e) : e instanceof SigframeError)
      return { kind: 'typed', name: e instanceof SigframeError ? e.constructor.name : 'SigframeError' };
    const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const stack = e instanceof Error ? (e.stack ?? '').split('\n').slice(0, 12).join('\n') : '';
    return { kind: 'crash', error: error.slice(0, 500), stack };
  }
}

export interface Failure {
  target: TargetName;
  seed: number;
  index: number;
  failure: string;
  stack?: string;
  file?: string;
}

export interface TargetStats {
  target: TargetName;
  seed: number;
  runs: number;
  ok: number;
  typed: number;
  results: Record<string, number>;
  errors: Record<string, number>;
  /** Wall time, which includes time the machine gave to other processes. */
  slowestMs: number;
  slowestIndex: number;
  slowestCpuMs: number;
  slowestCpuIndex: number;
  maxHeapMb: number;
  maxRssMb: number;
  /** Failures by cause (the error, digits elided, and the first sigframe frame of its stack). */
  crashes: Record<string, number>;
  /** The first KEEP_PER_CAUSE failures of each cause. */
  failures: Failure[];
}

const KEEP_PER_CAUSE = 3;

/** What a failure is, for counting: slow/hang/memory, or the error and where in sigframe it came from. */
export function signature(f: Failure): string {
  const m = /^(slow|hang|memory|worker|fuzzer)/.exec(f.failure);
  if (m) return m[1]!;
  const at = (f.stack ?? '').split('\n').find((l) => /\/(src|layouts|cli)\//.test(l));
  const where = at
    ? at
        .trim()
        .replace(/^at /, '')
        .replace(/^.*?\/((src|layouts|cli)\/[^:]+:\d+).*$/, '$1')
    : '?';
  return `${f.failure.replace(/\d+/g, 'N').slice(0, 100)} @ ${where}`;
}

export interface RunOptions {
  runs: number;
  seed?: number;
  /** The first index and the stride (workers take every W-th input). */
  start?: number;
  step?: number;
  /** Slower than this is a failure (ms). */
  maxMs?: number;
  /** Where failing inputs are written (none: not written). */
  crashDir?: string;
  /** Stop at this performance.now() time, however many inputs are left. */
  deadline?: number;
  /** [index being run, inputs done], for a watchdog in another thread. */
  progress?: Int32Array;
  /** Called every ~5 s with the stats so far. */
  report?: (s: TargetStats) => void;
}

/** Saves a failing input (its files and what happened) under crashDir; returns the meta file. */
export function saveFailure(crashDir: string, f: Failure, input: FuzzInput): string {
  mkdirSync(crashDir, { recursive: true });
  const base = `${f.target}-crash-${f.seed}-${f.index}`;
  const files: Record<string, string> = {};
  for (const [name, data] of Object.entries(input.files)) {
    files[name] = `${base}.${name}`;
    writeFileSync(join(crashDir, files[name]), data);
  }
  const meta = join(crashDir, `${base}.meta.json`);
  const replay = `npm run fuzz -- --target ${f.target} --seed ${f.seed} --only ${f.index}`;
  writeFileSync(
    meta,
    `${JSON.stringify({ target: f.target, files, params: input.params, failure: f.failure, stack: f.stack, replay, expect: 'ok-or-typed' }, null, 2)}\n`,
  );
  return meta;
}

/** Reads back what saveFailure wrote: the input, as the target runs it. */
export function loadFailure(meta: string): { target: TargetName; input: FuzzInput; failure: string } {
  const m = JSON.parse(readFileSync(meta, 'utf8'));
  const dir = dirname(meta);
  const files: Record<string, string | Uint8Array> = {};
  for (const [name, file] of Object.entries(m.files as Record<string, string>)) {
    const data = readFileSync(join(dir, file));
    files[name] = name.endsWith('.bin') ? new Uint8Array(data) : data.toString('utf8');
  }
  return { target: m.target, input: { files, params: m.params }, failure: m.failure };
}

function emptyStats(target: TargetName, seed: number): TargetStats {
  return {
    target,
    seed,
    runs: 0,
    ok: 0,
    typed: 0,
    results: {},
    errors: {},
    slowestMs: 0,
    slowestIndex: -1,
    slowestCpuMs: 0,
    slowestCpuIndex: -1,
    maxHeapMb: 0,
    maxRssMb: 0,
    crashes: {},
    failures: [],
  };
}

export function runTarget(name: TargetName, o: RunOptions): TargetStats {
  const seed = o.seed ?? 1;
  const maxMs = o.maxMs ?? (name === 'frames' ? 250 : 1000);
  const step = o.step ?? 1;
  const t = targets[name];
  const dir = mkdtempSync(join(tmpdir(), `sigframe-fuzz-${name}-`));
  const s = emptyStats(name, seed);
  let lastReport = performance.now();
  try {
    for (let i = o.start ?? 0; i < o.runs; i += step) {
      if (o.deadline !== undefined && performance.now() > o.deadline) break;
      if (o.progress) Atomics.store(o.progress, 0, i);
      // Phase 0 while the fuzzer makes the input, 1 while sigframe runs it: a watchdog timeout
      // then says whose time it was.
      if (o.progress) Atomics.store(o.progress, 2, 0);
      const input = t.make(inputRng(seed, i));
      if (o.progress) Atomics.store(o.progress, 2, 1);
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      const v = classify(name, input, dir);
      const ms = performance.now() - t0;
      // The bound is on work done, CPU time: on a shared 2-core machine a descheduled input's wall
      // time says nothing about sigframe (a true hang is the watchdog's, in wall time).
      const c = process.cpuUsage(c0);
      const cpuMs = (c.user + c.system) / 1000;
      if (v.kind === 'ok') {
        s.ok++;
        s.results[v.label] = (s.results[v.label] ?? 0) + 1;
      } else if (v.kind === 'typed') {
        s.typed++;
        s.errors[v.name] = (s.errors[v.name] ?? 0) + 1;
      }
      if (ms > s.slowestMs) [s.slowestMs, s.slowestIndex] = [ms, i];
      if (cpuMs > s.slowestCpuMs) [s.slowestCpuMs, s.slowestCpuIndex] = [cpuMs, i];
      const failure =
        v.kind === 'crash'
          ? v.error
          : cpuMs > maxMs
            ? `slow: ${cpuMs.toFixed(0)} ms CPU, ${ms.toFixed(0)} ms wall (bound ${maxMs} ms CPU)`
            : '';
      if (failure) {
        const f: Failure = {
          target: name,
          seed,
          index: i,
          failure,
          ...(v.kind === 'crash' ? { stack: v.stack } : {}),
        };
        // Counted by cause; the first few of each are shrunk, kept and saved.
        const sig = signature(f);
        s.crashes[sig] = (s.crashes[sig] ?? 0) + 1;
        if (s.crashes[sig]! <= KEEP_PER_CAUSE) {
          let small = input;
          if (v.kind === 'crash' && t.shrink) {
            small = t.shrink(input, (x) => {
              const w = classify(name, x, dir);
              return w.kind === 'crash' && w.error === v.error;
            });
          }
          if (o.crashDir) f.file = saveFailure(o.crashDir, f, small);
          s.failures.push(f);
        }
      }
      s.runs++;
      if (o.progress) Atomics.add(o.progress, 1, 1);
      if ((s.runs & 255) === 0) {
        const m = process.memoryUsage();
        s.maxHeapMb = Math.max(s.maxHeapMb, m.heapUsed / 2 ** 20);
        s.maxRssMb = Math.max(s.maxRssMb, m.rss / 2 ** 20);
        if (o.report && performance.now() - lastReport > 5000) {
          lastReport = performance.now();
          o.report(s);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = process.memoryUsage();
  s.maxHeapMb = Math.round(Math.max(s.maxHeapMb, m.heapUsed / 2 ** 20));
  s.maxRssMb = Math.round(Math.max(s.maxRssMb, m.rss / 2 ** 20));
  s.slowestMs = Math.round(s.slowestMs * 10) / 10;
  s.slowestCpuMs = Math.round(s.slowestCpuMs * 10) / 10;
  return s;
}

// ---- the command: workers, a watchdog, the summary --------------------------------------------

interface WorkerJob {
  target: TargetName;
  runs: number;
  seed: number;
  start: number;
  step: number;
  maxMs: number;
  crashDir: string;
  deadline: number;
  progress: SharedArrayBuffer;
}

function merge(name: TargetName, seed: number, parts: TargetStats[]): TargetStats {
  const out = emptyStats(name, seed);
  for (const p of parts) {
    out.runs += p.runs;
    out.ok += p.ok;
    out.typed += p.typed;
    for (const [k, v] of Object.entries(p.results)) out.results[k] = (out.results[k] ?? 0) + v;
    for (const [k, v] of Object.entries(p.errors)) out.errors[k] = (out.errors[k] ?? 0) + v;
    if (p.slowestMs > out.slowestMs) [out.slowestMs, out.slowestIndex] = [p.slowestMs, p.slowestIndex];
    if (p.slowestCpuMs > out.slowestCpuMs)
      [out.slowestCpuMs, out.slowestCpuIndex] = [p.slowestCpuMs, p.slowestCpuIndex];
    out.maxHeapMb = Math.max(out.maxHeapMb, p.maxHeapMb);
    out.maxRssMb = Math.max(out.maxRssMb, p.maxRssMb);
    for (const [k, v] of Object.entries(p.crashes)) out.crashes[k] = (out.crashes[k] ?? 0) + v;
    for (const f of p.failures)
      if (out.failures.filter((x) => signature(x) === signature(f)).length < KEEP_PER_CAUSE)
        out.failures.push(f);
  }
  return out;
}

/**
 * Runs one target on `workers` threads, each taking every W-th input. A worker whose input does not
 * finish within `hangMs` is terminated, the input saved as a hang, and a new worker goes on after
 * it; one that exhausts its heap (resourceLimits) is recorded the same way.
 */
async function runWorkers(
  job: Omit<WorkerJob, 'start' | 'step' | 'progress'>,
  first: number,
  workers: number,
  hangMs: number,
  heapMb: number,
  log: (s: string) => void,
): Promise<TargetStats & { seconds: number }> {
  const t0 = performance.now();
  const done: TargetStats[] = [];
  const last: (TargetStats | undefined)[] = [];
  const lanes = Array.from({ length: workers }, (_, k) => k);
  const progressOf: Int32Array[] = [];
  const lane = (k: number, start: number): Promise<void> =>
    new Promise((resolve) => {
      const sab = new SharedArrayBuffer(12);
      const progress = new Int32Array(sab);
      progressOf[k] = progress;
      Atomics.store(progress, 0, start);
      // Worker threads do not inherit tsx's loader from --import: each registers it, then loads this file.
      const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(import.meta.url)}); })`;
      const w = new Worker(boot, {
        eval: true,
        workerData: { ...job, start, step: workers, progress: sab } satisfies WorkerJob,
        resourceLimits: { maxOldGenerationSizeMb: heapMb },
      });
      let finished = false;
      let seen = -1;
      let since = performance.now();
      const watch = setInterval(() => {
        const n = Atomics.load(progress, 1);
        if (n !== seen) [seen, since] = [n, performance.now()];
        else if (performance.now() - since > hangMs)
          lost(
            Atomics.load(progress, 2) === 0
              ? `fuzzer: making the input took over ${hangMs} ms (worker terminated; not sigframe's time)`
              : `hang: no result after ${hangMs} ms (worker terminated)`,
          );
      }, 250);
      const lost = (why: string) => {
        if (finished) return;
        finished = true;
        if (/^worker/.test(why) && Atomics.load(progress, 1) === 0) {
          console.error(`${job.target}: the worker did not start: ${why}`);
          process.exit(2);
        }
        clearInterval(watch);
        void w.terminate();
        const index = Atomics.load(progress, 0);
        const f: Failure = { target: job.target, seed: job.seed, index, failure: why };
        try {
          f.file = saveFailure(job.crashDir, f, targets[job.target].make(inputRng(job.seed, index)));
        } catch (e) {
          f.failure += ` (making the input again failed: ${String(e)})`;
        }
        log(`${job.target}: input ${index}: ${why}; saved ${f.file}`);
        // What the worker had counted, plus the lost input; the next worker goes on after it.
        const partial = last[k] ?? merge(job.target, job.seed, []);
        done.push({
          ...partial,
          runs: Atomics.load(progress, 1) + 1,
          crashes: { ...partial.crashes, [signature(f)]: (partial.crashes[signature(f)] ?? 0) + 1 },
          failures: [...partial.failures, f],
        });
        last[k] = undefined;
        lane(k, index + workers).then(resolve);
      };
      w.on('message', (m: { stats: TargetStats; final: boolean }) => {
        last[k] = m.stats;
        if (m.final) {
          finished = true;
          clearInterval(watch);
          done.push(m.stats);
          last[k] = undefined;
          resolve();
        }
      });
      w.on('error', (e: Error & { code?: string }) =>
        lost(
          e.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? `memory: the worker ran out of its ${heapMb} MB heap`
            : `worker error: ${e.message}`,
        ),
      );
      w.on('exit', (code) => {
        if (!finished) lost(`worker exited with code ${code}`);
      });
    });
  const ticker = setInterval(() => {
    const n = progressOf.reduce((a, p) => a + Atomics.load(p, 1), 0) + done.reduce((a, s) => a + s.runs, 0);
    const secs = (performance.now() - t0) / 1000;
    log(
      `${job.target}: ${n} inputs in ${secs.toFixed(0)} s (${(n / secs).toFixed(0)}/s), RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
    );
  }, 60_000);
  await Promise.all(lanes.map((k) => lane(k, first + k)));
  clearInterval(ticker);
  return { ...merge(job.target, job.seed, done), seconds: (performance.now() - t0) / 1000 };
}

if (!isMainThread && workerData?.target) {
  const job = workerData as WorkerJob;
  const send = (stats: TargetStats, final: boolean) =>
    parentPort!.postMessage({ stats: structuredClone(stats), final });
  const stats = runTarget(job.target, {
    runs: job.runs,
    seed: job.seed,
    start: job.start,
    step: job.step,
    maxMs: job.maxMs,
    crashDir: job.crashDir,
    deadline: job.deadline,
    progress: new Int32Array(job.progress),
    report: (s) => send(s, false),
  });
  send(stats, true);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main();

async function main(): Promise<void> {
  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : def;
  };
  const str = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const target = str('target');
  const seed = arg('seed', 1);
  // Failures go to a scratch folder: a long run can save inputs of any size, and a fixture is a
  // choice (copy a reproducer into test/fixtures/fuzz/ to keep it as a regression case).
  const crashDir = str('crash-dir') ?? join(tmpdir(), 'sigframe-fuzz');
  if (target === undefined) {
    // The frames fuzzer as it always ran: one thread, `sigframe decode` every --cli-every inputs.
    const runs = arg('runs', 100_000);
    const t0 = performance.now();
    const stats = fuzz(runs, seed, arg('cli-every', 20_000), crashDir, arg('max-ms', 250));
    const secs = (performance.now() - t0) / 1000;
    console.log(
      JSON.stringify({ ...stats, seconds: Math.round(secs), inputs_per_s: Math.round(runs / secs) }, null, 2),
    );
    process.exitCode = stats.crashers.length === 0 ? 0 : 1;
  } else {
    const list = target === 'all' ? targetNames : target.split(',');
    for (const t of list) {
      if (!targetNames.includes(t as TargetName)) {
        console.error(`--target ${t}: expected one of ${targetNames.join(', ')}, or all`);
        process.exit(2);
      }
    }
    const only = str('only');
    if (only !== undefined) {
      // Replays one input: what it is, and how it ends (with the stack).
      const name = list[0] as TargetName;
      const input = targets[name].make(inputRng(seed, Number(only)));
      const dir = mkdtempSync(join(tmpdir(), 'sigframe-fuzz-only-'));
      const t0 = performance.now();
      const v = classify(name, input, dir);
      const ms = performance.now() - t0;
      if (str('crash-dir'))
        console.error(
          `saved ${saveFailure(crashDir, { target: name, seed, index: Number(only), failure: v.kind === 'crash' ? v.error : v.kind }, input)}`,
        );
      console.log(
        JSON.stringify(
          {
            target: name,
            seed,
            index: Number(only),
            params: input.params,
            sizes: Object.fromEntries(Object.entries(input.files).map(([k, d]) => [k, d.length])),
            ms: Math.round(ms),
            ...v,
          },
          null,
          2,
        ),
      );
      if (v.kind === 'crash') console.log(v.stack);
      process.exitCode = v.kind === 'crash' ? 1 : 0;
    } else {
      const workers = arg('workers', 1);
      const seconds = arg('seconds', Number.POSITIVE_INFINITY);
      const all: unknown[] = [];
      let failures = 0;
      for (const t of list as TargetName[]) {
        const maxMs = arg('max-ms', t === 'frames' ? 250 : 1000);
        const s = await runWorkers(
          {
            target: t,
            runs: arg('start', 0) + arg('runs', 1_000_000),
            seed,
            maxMs,
            crashDir,
            deadline: performance.now() + seconds * 1000,
          },
          arg('start', 0),
          workers,
          Math.max(10_000, 10 * maxMs),
          arg('heap-mb', 2048),
          (line) => console.error(line),
        );
        failures += s.failures.length;
        const summary = {
          ...s,
          seconds: Math.round(s.seconds),
          inputs_per_s: Math.round(s.runs / s.seconds),
          // With one worker the inputs run are first..next-1; with W, each lane stops on its own.
          first: arg('start', 0),
          next: arg('start', 0) + s.runs,
          workers,
          crash_count: Object.entries(s.crashes)
            .filter(([k]) => !/^(slow|hang|memory|fuzzer)$/.test(k))
            .reduce((n, [, v]) => n + v, 0),
          hang_count: (s.crashes.slow ?? 0) + (s.crashes.hang ?? 0),
          memory_count: s.crashes.memory ?? 0,
          // Inputs the fuzzer itself took too long to make: a bug in scripts/fuzz.ts, not sigframe.
          fuzzer_count: s.crashes.fuzzer ?? 0,
          peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        };
        all.push(summary);
        console.log(JSON.stringify(summary, null, 2));
      }
      process.exitCode = failures === 0 ? 0 : 1;
    }
  }
}
