import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { frameLayout, sigcontextOf } from '../src/frame/layout.js';
import { decodeFrames, loadFrame, stateTarget } from '../src/io/frames.js';
import { toJson } from '../src/schema/json.js';
import { cli, fixture } from './support/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sigframe-bulk-'));
const profile = fixture('frames', 'host-profile.json');
const names = ['x86_64-sigusr1-vectors', 'x86_64-sigsegv-fault', 'x86_64-sigusr1-avx-init'];
const captures = names.map((n) => ({
  info: JSON.parse(readFileSync(fixture('frames', `${n}.json`), 'utf8')) as { address: string },
  bytes: readFileSync(fixture('frames', `${n}.bin`)),
  one: loadFrame(fixture('frames', `${n}.json`)).decoded,
}));

describe('decoding many frames from one file (decode --frame-size, --frames-at)', () => {
  test('a concatenation of records at one address: each record decodes as its capture does', () => {
    const c = captures[0]!;
    const file = join(dir, 'records.bin');
    // Three copies of a real frame, then a record of zeros: three verdicts and one error.
    writeFileSync(file, Buffer.concat([c.bytes, c.bytes, c.bytes, Buffer.alloc(c.bytes.length)]));
    const address = BigInt(c.info.address);
    const out = [...decodeFrames(file, { frameSize: c.bytes.length }, { address, profile })];
    assert.deepEqual(
      out.map((f) => [f.index, f.offset, 'error' in f]),
      [
        [0, 0, false],
        [1, c.bytes.length, false],
        [2, 2 * c.bytes.length, false],
        [3, 3 * c.bytes.length, true],
      ],
    );
    for (const f of out.slice(0, 3)) {
      assert.ok('decoded' in f);
      assert.equal(toJson(f.decoded.verdict), toJson(c.one.verdict));
      assert.equal(toJson(f.decoded.registers), toJson(c.one.registers));
    }
    const e = out[3]!;
    assert.ok('error' in e && /fpstate at byte 232: 0x0 \(NULL\)/.test(e.error.message), String(e));

    const records = ['decode', file, '--address', c.info.address, '--frame-size', String(c.bytes.length)];
    const summary = cli(...records, '--profile', profile, '--json');
    assert.equal(summary.code, 1, 'a frame that cannot be decoded fails the run');
    const s = JSON.parse(summary.stdout);
    assert.deepEqual([s.frames, s.decoded, s.failed, s.verdicts], [4, 3, 1, { [c.one.verdict.verdict]: 3 }]);
    assert.equal(s.first_errors[0].offset, 3 * c.bytes.length);

    const lines = cli(...records, '--profile', profile, '--jsonl');
    const rows = lines.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 4);
    assert.deepEqual(rows[0], {
      index: 0,
      offset: 0,
      frame: c.info.address,
      kind: 'x86_64',
      profile,
      signal: 'SIGUSR1',
      xstate_bv: `0x${c.one.state.fpu!.xstate_bv.toString(16)}`,
      verdict: c.one.verdict.verdict,
      reason: c.one.verdict.reason,
      findings: 0,
    });
    assert.match(rows[3].error, /does not fit/);
  });

  test('records across the 1 MiB chunks a bulk decode reads, and a short last record', () => {
    // One real frame over more than a chunk, each record's r8 set to its index, then half a
    // record: every whole record decodes as the capture does with its own r8, read whichever
    // chunk holds it and after every chunk was read; the half is an error at its offset.
    const c = captures[0]!;
    const size = c.bytes.length;
    const n = Math.ceil((1 << 20) / size) + 7;
    const l = frameLayout(stateTarget(c.one.state));
    const r8 =
      Number(c.one.frame - BigInt(c.info.address)) + l.sigcontext.fields.find(([m]) => m === 'r8')![1].offset;
    const records = Buffer.concat([
      ...Array.from({ length: n }, () => c.bytes),
      c.bytes.subarray(0, size / 2),
    ]);
    for (let i = 0; i < n; i++) records.writeBigUInt64LE(BigInt(i), i * size + r8);
    const file = join(dir, 'chunks.bin');
    writeFileSync(file, records);
    const address = BigInt(c.info.address);
    const out = [...decodeFrames(file, { frameSize: size }, { address, profile })];
    assert.equal(out.length, n + 1);
    for (const f of out.slice(0, n)) {
      assert.ok('decoded' in f, `record ${f.index}`);
      assert.equal(f.offset, f.index * size);
      assert.equal(toJson(f.decoded.verdict.verdict), toJson(c.one.verdict.verdict), `record ${f.index}`);
      assert.equal(sigcontextOf(f.decoded.state.frame, 'x86_64').r8, BigInt(f.index), `record ${f.index}`);
    }
    const lastWhole = out[n - 1]!;
    assert.ok('decoded' in lastWhole && toJson(lastWhole.decoded.registers) === toJson(c.one.registers));
    const last = out[n]!;
    assert.ok('error' in last && last.offset === n * size, String(last));
  });

  test('frames at offsets of one memory image, each at the image address + its offset', () => {
    // A capture's bytes as a memory image starting at its address, and an offset past its end.
    const a = captures[1]!;
    const base = BigInt(a.info.address);
    const file = join(dir, 'image.bin');
    writeFileSync(file, Buffer.concat([a.bytes, Buffer.alloc(64)]));
    const out = [...decodeFrames(file, { framesAt: [0, 100_000] }, { address: base, profile })];
    assert.ok('decoded' in out[0]! && out[0].decoded.frame === base);
    assert.equal(toJson(out[0].decoded.state.frame), toJson(a.one.state.frame));
    assert.equal(toJson(out[0].decoded.verdict), toJson(a.one.verdict));
    assert.ok('error' in out[1]! && /offset 100000 is past the end/.test(out[1].error.message));
    const r = cli('decode', file, '--address', a.info.address, '--frames-at', '0', '--profile', profile);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`1 frame: 1 ${a.one.verdict.verdict}\n`));
    assert.match(r.stdout, /SIGSEGV/);
  });

  test('bad bulk options are exit 2 with the option named', () => {
    const c = captures[0]!;
    const file = fixture('frames', `${names[0]}.bin`);
    for (const [args, word] of [
      [['--frame-size', '2952'], '--address'],
      [['--address', c.info.address, '--frame-size', '0'], '--frame-size'],
      [['--address', c.info.address, '--frames-at', '-8'], '--frames-at'],
      [['--address', c.info.address, '--frames-at', ''], '--frames-at'],
      [['--address', c.info.address, '--frame-size', '2952', '--top', '0x1000'], '--top'],
      [['--address', c.info.address, '--frame-size', '2952', '--json', '--jsonl'], '--jsonl'],
      [['--address', c.info.address, '--jsonl'], '--jsonl'],
    ] as const) {
      const r = cli('decode', file, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.includes(word), `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
