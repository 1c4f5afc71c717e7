import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { frameKinds } from '../layouts/frames.js';
import { decodeFrame } from '../src/frame/decode.js';
import { sigcontextOf } from '../src/frame/layout.js';
import { frameReader } from '../src/frame/reader.js';
import { loadCapture } from '../src/io/capture-file.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { DecodeError, SigframeError } from '../src/schema/errors.js';
import { scenarios } from './support/frames.js';
import { fixture } from './support/helpers.js';

describe('the compiled reader (frameReader) against decodeFrame', () => {
  test('every captured frame: the same sigcontext, sw_reserved, XSTATE_BV and component offsets', () => {
    for (const file of scenarios(fixture('frames'))) {
      const { decoded: d, capture } = loadFrame(file);
      const reader = frameReader(stateTarget(d.state));
      const bytes = capture!.memory.bytes;
      const at = Number(d.frame - capture!.info.address);
      // Aligned as the kernel aligns frames (typed arrays), and one byte off (the DataView path).
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      for (const [input, start] of [
        [bytes, at],
        [shifted, at + 1],
      ] as const) {
        const r = reader.read(input, d.frame, start);
        const f = d.state.frame;
        const sc = sigcontextOf(f, d.state.kind);
        for (const [name, v] of Object.entries(r.sigcontext))
          assert.equal(BigInt(v), BigInt(sc[name]!), `${file}: ${name}`);
        assert.equal(r.bufFx, Number(d.buf_fx! - d.frame), file);
        const sw = d.sw_reserved!;
        assert.deepEqual(
          { ...r.swReserved },
          {
            magic1: sw.magic1,
            extended_size: sw.extended_size,
            xfeatures: BigInt(sw.xfeatures),
            xstate_size: sw.xstate_size,
          },
        );
        const bv = d.state.fpu!.xstate_bv;
        assert.equal(r.xstateBv, bv, file);
        for (const [nr, c] of reader.layout.image.components) {
          assert.equal(
            r.components[c.name],
            (bv >> BigInt(nr)) & 1n ? r.bufFx + c.offset : -1,
            `${file}: ${c.name}`,
          );
        }
        // The zero-copy path: positions in the buffer, and the values read through views of it.
        const index = new Int32Array(reader.indexLength);
        reader.locate(input, d.frame, index, start);
        assert.equal(index[0], input.byteOffset + start);
        assert.equal(index[1]! - index[0]!, r.bufFx, file);
        for (const [i, name] of reader.offsets.components.entries()) {
          const p = index[2 + i]!;
          assert.equal(p === -1 ? -1 : p - index[0]!, r.components[name], `${file}: ${name}`);
        }
        const dv = new DataView(input.buffer);
        for (const [name, m] of Object.entries(reader.offsets.sigcontext)) {
          const p: number = index[0]! + m.offset;
          const v: number | bigint =
            m.size === 8
              ? dv.getBigUint64(p, true)
              : m.size === 4
                ? dv.getUint32(p, true)
                : dv.getUint16(p, true);
          assert.equal(BigInt(v), BigInt(r.sigcontext[name]!), `${file}: ${name} through locate()`);
        }
        assert.equal(dv.getBigUint64(index[1]! + reader.offsets.xstateBv, true), bv);
        const file2 = reader.registerFile();
        reader.readInto(input, d.frame, file2, start);
        assert.equal(file2.u64[reader.slots.u64.xstate_bv!], bv);
        assert.equal(file2.num[reader.slots.num.buf_fx!], r.bufFx);
      }
    }
  });

  test('misuse is a DecodeError saying what: a fractional start, a short input, another reader’s file', () => {
    const { decoded: d, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const reader = frameReader(stateTarget(d.state));
    const bytes = capture!.memory.bytes;
    assert.throws(() => reader.read(bytes, d.frame, 1.5), /start 1\.5 is not a byte offset/);
    const padded = new Uint8Array(100 + 239);
    padded.set(bytes.subarray(0, 239), 100);
    assert.throws(
      () => reader.read(padded, d.frame, 100),
      (e: unknown) =>
        e instanceof DecodeError && /at byte 100 needs 240 bytes/.test(e.message) && e.where.offset === 339,
    );
    const cut = new Uint8Array(100 + 978); // sw_reserved inside, the XSAVE header not
    cut.set(bytes.subarray(0, 978), 100);
    assert.throws(
      () => reader.read(cut, d.frame, 100),
      (e: unknown) =>
        e instanceof DecodeError &&
        /^xsave_header: bytes 1068\.\.1132 are outside the 1078-byte input/.test(e.message) &&
        e.where.offset === 1068,
    );
    const ia32 = loadFrame(fixture('frames', 'ia32-rt-sigusr1.json')).decoded;
    const other = frameReader(stateTarget(ia32.state)).registerFile();
    assert.throws(
      () => reader.readInto(bytes, d.frame, other),
      /register file is not this reader's \(made for ia32-rt/,
    );
  });

  test('truncations, bit flips and garbage: fields or a DecodeError with the offset, nothing else', () => {
    const { decoded: d, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const reader = frameReader(stateTarget(d.state));
    let errors = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: capture!.memory.bytes.length }),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 16 }),
        fc.integer({ min: 0, max: 7 }),
        (len, flips, shift) => {
          const bytes = new Uint8Array(len + shift);
          bytes.set(capture!.memory.bytes.subarray(0, len), shift);
          for (const f of flips) if (len > 0) bytes[shift + (f.at % len)] = f.value;
          // locate() reaches the same answer as read(): the same positions, or the same error.
          const index = new Int32Array(reader.indexLength);
          let located: string;
          try {
            reader.locate(bytes, d.frame, index, shift);
            located = [...index].map((p) => (p === -1 ? -1 : p - shift)).join();
          } catch (e) {
            located = (e as Error).message;
          }
          try {
            const r = reader.read(bytes, d.frame, shift);
            for (const o of Object.values(r.components)) assert.ok(o === -1 || (o >= 0 && o < len));
            const fx = r.bufFx;
            assert.equal(located, [0, fx, ...reader.offsets.components.map((n) => r.components[n])].join());
          } catch (e) {
            if (e instanceof DecodeError) assert.equal(located, e.message);
            errors++;
            assert.ok(e instanceof DecodeError && e.where.offset !== undefined, `unexpected ${String(e)}`);
          }
        },
      ),
    );
    assert.ok(errors > 0, 'some inputs were too short');
  });
});

describe('bad input never crashes the decoder', () => {
  const file = fixture('frames', 'x86_64-sigusr1-vectors.json');
  const base = loadFrame(file).capture!;
  const profile = loadBuiltinProfile('amd-epyc-zen4-kvm');
  const kernel = chooseKernel('6.18');
  const decodeBytes = (bytes: Uint8Array, kind: keyof typeof frameKinds = 'x86_64') =>
    decodeFrame({
      memory: { address: base.info.address, bytes },
      kind,
      profile,
      kernel,
      config: { bits: 64 },
    });

  test('a truncated frame: a DecodeError naming the member and byte offset', () => {
    assert.throws(
      () => decodeBytes(base.memory.bytes.subarray(0, 100)),
      (e: unknown) =>
        e instanceof SigframeError &&
        /uc\.uc_mcontext\.\w+: input ends at byte 100/.test(e.message) &&
        e.where.offset === 100,
    );
  });

  test('random truncations, bit flips and garbage: typed errors or a verdict, never anything else', () => {
    const kinds = Object.keys(frameKinds) as (keyof typeof frameKinds)[];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: base.memory.bytes.length }),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 16 }),
        fc.constantFrom(...kinds),
        (len, flips, kind) => {
          const bytes = Uint8Array.from(base.memory.bytes.subarray(0, len));
          for (const f of flips) if (bytes.length > 0) bytes[f.at % bytes.length] = f.value;
          try {
            const d = decodeBytes(bytes, kind);
            assert.ok(
              ['full', 'partial', 'fx-only', 'init', 'sigsegv', 'sigtrap'].includes(d.verdict.verdict),
            );
          } catch (e) {
            assert.ok(e instanceof SigframeError, `unexpected ${String(e)}`);
          }
        },
      ),
    );
  });

  test('a capture whose .bin does not match its description is bad input', () => {
    const info = JSON.parse(readFileSync(file, 'utf8'));
    assert.throws(
      () => loadCapture({ ...info, top: '0x1' }, base.memory.bytes, 'x.json'),
      /holds 2952 bytes, but address\.\.top spans/,
    );
    assert.throws(
      () => loadCapture({ ...info, unwritten: [[10, 5]] }, base.memory.bytes, 'x.json'),
      /unwritten\[0\] is not a range/,
    );
  });
});
