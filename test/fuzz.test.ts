import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  classify,
  type FuzzInput,
  fuzz,
  loadFailure,
  minimize,
  runTarget,
  type TargetName,
  type TargetStats,
} from '../scripts/fuzz.js';
import { decodeFrame } from '../src/frame/decode.js';
import { frameReader } from '../src/frame/reader.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { SigframeError } from '../src/schema/errors.js';
import { toJson } from '../src/schema/json.js';
import { fixture } from './support/helpers.js';

// The fuzzer of `npm run fuzz`, 10^4 inputs per test run (10^6 runs by hand; README has the record).
test('10^4 mutated and random frames: a result or a typed error for each, quickly, in bounded memory', () => {
  const crashDir = mkdtempSync(join(tmpdir(), 'sigframe-crash-'));
  const s = fuzz(10_000, 20261125, 0, crashDir);
  assert.equal(s.runs, 10_000);
  assert.deepEqual(s.crashers, [], `crashers written to ${crashDir}`);
  assert.ok(s.typedErrors > 100 && s.results > 1000, 'both outcomes are exercised');
  for (const v of ['full', 'fx-only', 'init', 'sigsegv'])
    assert.ok((s.verdicts[v] ?? 0) > 0, `verdict ${v} reached`);
  assert.ok(s.slowestMs < 250, `slowest input took ${s.slowestMs} ms`);
  assert.ok(s.maxHeapMb < 512, `heap reached ${s.maxHeapMb} MB`);
});

test('regression inputs (edge cases and minimized crashers) end as recorded', () => {
  const dir = fixture('fuzz');
  // Frames in the first format (NAME.bin, NAME.bin.json); `npm run fuzz -- --target` writes NAME.meta.json.
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin') && existsSync(join(dir, `${f}.json`)));
  assert.ok(files.length >= 4);
  const base = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
  const t = stateTarget(base.decoded.state);
  for (const f of files) {
    const meta = JSON.parse(readFileSync(join(dir, `${f}.json`), 'utf8'));
    const run = () =>
      decodeFrame({
        memory: { address: BigInt(meta.address), bytes: readFileSync(join(dir, f)) },
        kind: meta.kind,
        profile: t.profile,
        kernel: t.kernel,
        config: t.config,
      });
    if (meta.expect === 'error') {
      assert.throws(run, (e: unknown) => e instanceof SigframeError && e.where.offset === meta.offset, f);
    } else {
      assert.equal(
        meta.expect,
        'verdict',
        `${f}.json: record how decoding must end (expect: error or verdict)`,
      );
      const d = run();
      assert.equal(d.verdict.verdict, meta.verdict, `${f}: ${meta.why}`);
      // The parts made on first read decode too (decode --json prints them all).
      assert.doesNotThrow(() => toJson(d), f);
    }
    // The compiled reader: fields or a typed error with the offset, whatever decodeFrame said.
    if (meta.kind === t.kind) {
      try {
        frameReader(t).read(readFileSync(join(dir, f)), BigInt(meta.address));
      } catch (e) {
        assert.ok(e instanceof SigframeError && e.where.offset !== undefined, `${f}: ${String(e)}`);
      }
    }
  }
});

test('a failing input is minimized to what still fails: the tail cut, the rest zeroed', () => {
  const input = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 1) & 0xff);
  input[1200] = 0xab;
  let calls = 0;
  const small = minimize(input, (b) => {
    calls++;
    return b.length > 1200 && b[1200] === 0xab;
  });
  assert.equal(small.length, 1201);
  assert.deepEqual(
    [...small.subarray(0, 1200)].filter((b) => b !== 0),
    [],
  );
  assert.equal(small[1200], 0xab);
  assert.ok(calls < 10_000, `${calls} trials`);
});

// The other targets of `npm run fuzz -- --target T` (longer runs by hand; README has the record): a
// few thousand inputs each, fixed seed; any crash fails the test.
const RUNS = 2000;
const SEED = 20261125;
const stats = new Map<TargetName, TargetStats>();
const run = (t: TargetName) => {
  if (!stats.has(t)) stats.set(t, runTarget(t, { runs: RUNS, seed: SEED, maxMs: 5000 }));
  return stats.get(t)!;
};

for (const t of ['cpuid', 'build', 'convert', 'diff'] as const) {
  test(`${t}: ${RUNS} mutated inputs, each a result or a SigframeError, in bounded time and memory`, () => {
    const s = run(t);
    assert.equal(s.runs, RUNS);
    assert.deepEqual(Object.keys(s.crashes), [], JSON.stringify(s.failures, null, 2));
    assert.ok(s.ok >= RUNS / 50 && s.typed >= RUNS / 4, `results ${s.ok}, typed errors ${s.typed}`);
    assert.ok(s.slowestMs < 5000, `slowest input ${s.slowestIndex} took ${s.slowestMs} ms`);
    assert.ok(s.maxHeapMb < 1024, `heap reached ${s.maxHeapMb} MB`);
  });
}

test('build: states of every frame kind are built; convert: frames and XSAVE images converted', () => {
  const b = run('build').results;
  for (const k of ['x86_64', 'ia32', 'ia32-rt']) assert.ok((b[`built ${k}`] ?? 0) > 0, `a ${k} state built`);
  const c = run('convert');
  assert.ok((c.results.converted ?? 0) > 0 && (c.errors.ConvertRefused ?? 0) > 0, JSON.stringify(c.results));
  assert.ok(
    Object.keys(c.results).some((r) => r.startsWith('image')),
    'an XSAVE image converted',
  );
  assert.ok((run('cpuid').results.profile ?? 0) > 0, 'a mutated dump still read as a profile');
});

const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const reproducers: { name: string; target: TargetName; input: FuzzInput }[] = [
  {
    name: 'a state whose kind is nested 10^5 deep',
    target: 'build',
    input: { files: { 'state.json': `{"format":"sigframe-state/1","kind":${deep(100_000)}}` }, params: {} },
  },
  {
    name: 'a CPUID JSON record nested 10^5 deep',
    target: 'cpuid',
    input: { files: { 'dump.txt': `[[${deep(100_000)},0,0,0,0,0]]` }, params: { kernel: null, config: 0 } },
  },
  {
    name: 'a state file holding null',
    target: 'build',
    input: { files: { 'state.json': 'null' }, params: {} },
  },
];
// Crashes the first long runs found (fixed since): each now ends in a SigframeError.
for (const r of reproducers) {
  test(`fuzz regression, ${r.target}: ${r.name} ends in a SigframeError`, () => {
    const v = classify(r.target, r.input, mkdtempSync(join(tmpdir(), 'sigframe-known-')));
    assert.notEqual(v.kind, 'crash', v.kind === 'crash' ? v.stack : '');
  });
}

test('saved failures of `npm run fuzz -- --target T` (NAME.meta.json) now end in a result or a SigframeError', () => {
  const dir = fixture('fuzz');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.meta.json'))) {
    const { target, input, failure } = loadFailure(join(dir, f));
    const v = classify(target, input, mkdtempSync(join(tmpdir(), 'sigframe-replay-')));
    assert.notEqual(v.kind, 'crash', `${f} (was: ${failure}): ${v.kind === 'crash' ? v.stack : ''}`);
  }
});
