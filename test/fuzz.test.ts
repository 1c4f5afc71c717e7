import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fuzz, minimize } from '../scripts/fuzz.js';
import { decodeFrame } from '../src/frame/decode.js';
import { frameReader } from '../src/frame/reader.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { SigframeError } from '../src/schema/errors.js';
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
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));
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
      assert.equal(run().verdict.verdict, meta.verdict, `${f}: ${meta.why}`);
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
