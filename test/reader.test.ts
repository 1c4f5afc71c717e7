import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
import { fixture, root } from './support/helpers.js';

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

describe('locate(): one test for the usual frame, the checked body for the rest', () => {
  const { decoded: d, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
  const reader = frameReader(stateTarget(d.state));
  const frame = Uint8Array.from(capture!.memory.bytes.subarray(Number(d.frame - capture!.info.address)));
  const fx = Number(d.buf_fx! - d.frame);
  const fpAt = reader.offsets.sigcontext.fpstate!.offset;
  const withPointer = (fp: bigint) => {
    const b = frame.slice();
    new DataView(b.buffer).setBigUint64(fpAt, BigInt.asUintN(64, fp), true);
    return b;
  };
  const answer = (f: () => number[]) => {
    try {
      return f().join();
    } catch (e) {
      assert.ok(e instanceof DecodeError, String(e));
      return e.message;
    }
  };
  const located = (b: Uint8Array, address: bigint) =>
    answer(() => {
      const I = new Int32Array(reader.indexLength);
      reader.locate(b, address, I);
      return [...I].map((p) => (p === -1 ? -1 : p - b.byteOffset));
    });
  const viaRead = (b: Uint8Array, address: bigint) =>
    answer(() => {
      const r = reader.read(b, address);
      return [0, r.bufFx, ...reader.offsets.components.map((n) => r.components[n]!)];
    });

  test('frames across a 4 GiB line, at 0, with fpstate NULL or below the frame: what read() says', () => {
    const cases: [string, bigint, bigint][] = [
      // the image's pointer has the next high half: the fast test leaves it to the checked body
      ['across 4 GiB', 0x1_0000_0000n - 200n, 0x1_0000_0000n - 200n + BigInt(fx)],
      ['at address 0', 0n, BigInt(fx)],
      ['fpstate NULL', d.frame, 0n],
      ['fpstate NULL, frame at 0', 0n, 0n],
      ['fpstate below the frame', d.frame, d.frame - 64n],
      ['fpstate 4 GiB above', d.frame, d.frame + BigInt(fx) + 0x1_0000_0000n],
      ['fpstate at the frame', d.frame, d.frame],
      // in the same 4 GiB, 2^31 - 1 and 2^31 above: the fast test's int32 difference turns negative
      // at 2^31, which must go to the checked body, not wrap to a position in the input
      ['fpstate 2^31 - 1 above', 0x7fff_0000_1000n, 0x7fff_0000_1000n + 0x7fff_ffffn],
      ['fpstate 2^31 above', 0x7fff_0000_1000n, 0x7fff_0000_1000n + 0x8000_0000n],
    ];
    const want: Record<string, string> = {};
    for (const [what, address, fp] of cases) {
      const b = withPointer(fp);
      assert.equal(located(b, address), viaRead(b, address), what);
      want[what] = located(b, address).split(',')[1]!;
    }
    // The positions themselves: the image where the pointer says, none without one.
    assert.equal(want['across 4 GiB'], String(fx));
    assert.equal(want['at address 0'], String(fx));
    assert.equal(want['fpstate NULL'], '-1');
    assert.equal(want['fpstate NULL, frame at 0'], '-1');
    assert.match(located(withPointer(d.frame - 64n), d.frame), /^fpstate: bytes -64\.\.448 are outside/);
  });

  test('positions past int32 are refused, not wrapped: the input ends beyond 2^31 - 1 in its buffer', () => {
    // 2 GiB of zero pages, untouched but for the frame's.
    const big = new Uint8Array(2 ** 31 + 2 * frame.length);
    const below = big.subarray(2 ** 31 - 1 - frame.length, 2 ** 31 - 1);
    below.set(frame);
    assert.equal(located(below, d.frame), viaRead(below, d.frame));
    const across = big.subarray(2 ** 31 - 64);
    across.set(frame);
    assert.ok(
      located(across, d.frame).startsWith(
        `locate() gives positions as int32, and this input ends at byte ${big.length} of its buffer`,
      ),
    );
    assert.equal(reader.read(across, d.frame).bufFx, fx);
  });

  test('V8 inlines locate() into the caller for every frame kind and the largest AMX task', () => {
    // The trace and %OptimizeFunctionOnNextCall need V8 flags, so the check runs in a child process.
    const script = `
      import { loadFrame, stateTarget } from './src/io/frames.js';
      import { frameReader } from './src/frame/reader.js';
      import { buildFrame } from './src/frame/build.js';
      import { frameTarget } from './src/frame/target.js';
      import { loadBuiltinProfile } from './src/io/profiles.js';
      import { chooseKernel } from './src/kernel/eras.js';
      import { sprState } from './test/support/helpers.js';
      import { arbitraryState } from './src/testing/index.js';
      import fc from 'fast-check';
      const cases = [];
      for (const f of ['x86_64-sigusr1-vectors', 'ia32-rt-sigusr1', 'ia32-legacy-sigusr1']) {
        const { decoded, capture } = loadFrame('test/fixtures/frames/' + f + '.json');
        cases.push([f, frameReader(stateTarget(decoded.state)), capture.memory.bytes, capture.info.address]);
      }
      const base = loadFrame('test/fixtures/frames/x86_64-sigusr1-vectors.json').decoded.state;
      const t = frameTarget('x86_64', loadBuiltinProfile('intel-sapphire-rapids'), chooseKernel('6.18'), { bits: 64 }, 'used');
      const b = buildFrame(sprState(base, 'used', true), t);
      cases.push(['spr-amx-used', frameReader(t), b.bytes, b.address]);
      // No x32 capture is committed: a frame built from an arbitrary x32 state.
      const tx = frameTarget('x32', loadBuiltinProfile('amd-epyc-zen4-kvm'), chooseKernel('6.18'), { bits: 64 }, 'none');
      const bx = buildFrame(fc.sample(arbitraryState(tx), { numRuns: 1, seed: 1 })[0], tx);
      cases.push(['x32', frameReader(tx), bx.bytes, bx.address]);
      for (const [name, r, bytes, address] of cases) {
        const I = new Int32Array(r.indexLength);
        const caller = new Function('r', 'bytes', 'address', 'I',
          'return function caller_' + name.replace(/\\W/g, '_') + '() { r.locate(bytes, address, I); return I[1]; }')(r, bytes, address, I);
        %PrepareFunctionForOptimization(caller);
        for (let i = 0; i < 100; i++) caller();
        %OptimizeFunctionOnNextCall(caller);
        caller();
        console.log('CASE ' + name + ' ' + I[1]);
      }`;
    // Every optimisation on the main thread: a background compile's trace lines could otherwise land
    // in the middle of a caller's, which one run here showed.
    const r = spawnSync(
      process.execPath,
      [
        '--allow-natives-syntax',
        '--trace-turbo-inlining',
        '--no-concurrent-recompilation',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ],
      { cwd: root, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const names = [...r.stdout.matchAll(/^CASE (\S+) (-?\d+)$/gm)].map((m) => m[1]!);
    assert.deepEqual(names, [
      'x86_64-sigusr1-vectors',
      'ia32-rt-sigusr1',
      'ia32-legacy-sigusr1',
      'spr-amx-used',
      'x32',
    ]);
    for (const name of names) {
      const caller = `caller_${name.replace(/\W/g, '_')}`;
      // On failure, V8's own words about the two callees (e.g. "Cannot consider … reason: 5").
      const trace = r.stdout
        .split('\n')
        .filter((line) => /SharedFunctionInfo (locate|marks)>/.test(line))
        .join('\n');
      for (const callee of ['locate', 'marks'])
        assert.match(
          r.stdout,
          new RegExp(`Inlining .*<SharedFunctionInfo ${callee}>.* into .*<SharedFunctionInfo ${caller}>`),
          `${name}: ${callee} not inlined\n${trace}`,
        );
    }
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
