import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dataModels } from '../layouts/abi.js';
import { fregs_state } from '../layouts/frames.js';
import { fpstate_32, sigcontext_64, ucontext } from '../layouts/uapi.js';
import { allStructs } from '../src/abi/index.js';
import { FREGS_STATE_SIZE } from '../src/kernel/fpu_signal.js';
import { compileAccess } from '../src/schema/compile.js';
import { flatten } from '../src/schema/flat.js';
import {
  array,
  DecodeError,
  decode,
  encode,
  encodeInto,
  offsetOf,
  pad,
  SchemaError,
  sizeOf,
  struct,
  u8,
  u32,
  u64,
} from '../src/schema/index.js';
import { layoutOf, locate } from '../src/schema/layout.js';
import { memo } from '../src/schema/memo.js';
import { valueAt } from '../src/schema/value.js';
import { arbitraryOf } from '../src/testing/arbitraries.js';

const models = Object.values(dataModels);

describe('C layout rules per data model', () => {
  test('a struct holding a __u64 is 8-aligned on LP64 and x32, 4-aligned on ILP32', () => {
    // This alignment is why the kernel's sigframe_ia32 (which embeds _fpstate_32) is 736 bytes
    // on x86-64 kernels and 732 on i386 ones.
    assert.equal(layoutOf(fpstate_32, dataModels.lp64).align, 8);
    assert.equal(layoutOf(fpstate_32, dataModels.x32).align, 8);
    assert.equal(layoutOf(fpstate_32, dataModels.ilp32).align, 4);
    const frame = struct('frame_like_sigframe_ia32', {
      head: array(u32, 24),
      fp: fpstate_32,
      tail: array(u32, 3),
    });
    assert.equal(sizeOf(frame, dataModels.lp64), 736);
    assert.equal(sizeOf(frame, dataModels.ilp32), 732);
  });

  test('members are placed at their alignment and the tail is padded', () => {
    const s = struct('t', { a: u8, b: u64, c: u8 });
    assert.deepEqual(
      layoutOf(s, dataModels.lp64).fields.map((f) => [f.name, f.offset]),
      [
        ['a', 0],
        ['b', 8],
        ['c', 16],
      ],
    );
    assert.equal(sizeOf(s, dataModels.lp64), 24);
    assert.equal(sizeOf(s, dataModels.ilp32), 16);
  });

  test('offsetOf walks member paths and array indices', () => {
    assert.equal(offsetOf(ucontext, dataModels.lp64, 'uc_mcontext.fpstate'), 224);
    assert.equal(offsetOf(ucontext, dataModels.lp64, 'uc_sigmask'), 296);
    assert.equal(offsetOf(sigcontext_64, dataModels.lp64, 'reserved1[3]'), 192 + 24);
    assert.throws(
      () => offsetOf(ucontext, dataModels.lp64, 'uc_nope'),
      /struct ucontext has no member 'uc_nope'/,
    );
    assert.throws(
      () => offsetOf(sigcontext_64, dataModels.lp64, 'reserved1[8]'),
      /index 8 out of range 0\.\.7/,
    );
  });
});

describe('decode and encode from one schema', () => {
  for (const s of allStructs) {
    for (const m of models) {
      test(`decode(encode(x)) = x for ${s.name} (${m.name})`, () => {
        fc.assert(
          fc.property(arbitraryOf(s, m), (value) => {
            const bytes = encode(s, m, value);
            assert.equal(bytes.length, sizeOf(s, m));
            assert.deepStrictEqual(decode(s, m, bytes), value);
          }),
          { numRuns: 25 },
        );
      });
    }
  }

  test('encode(decode(bytes)) reproduces every byte the schema owns', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 256, maxLength: 256 }), (raw) => {
        assert.deepStrictEqual(
          encode(sigcontext_64, dataModels.lp64, decode(sigcontext_64, dataModels.lp64, raw)),
          raw,
        );
      }),
    );
  });

  test('padding is left alone and the written mask covers exactly the members', () => {
    const s = struct('padded', { a: u8, gap: pad(3), b: u32 });
    const target = new Uint8Array(8).fill(0xee);
    const mask = new Uint8Array(8);
    encodeInto(s, dataModels.lp64, { a: 1, b: 0x04030201 }, target, 0, mask);
    assert.deepEqual([...target], [1, 0xee, 0xee, 0xee, 1, 2, 3, 4]);
    assert.deepEqual([...mask], [1, 0, 0, 0, 1, 1, 1, 1]);
  });

  test('decode at an offset inside a larger buffer', () => {
    const inner = encode(sigcontext_64, dataModels.lp64, {
      ...decode(sigcontext_64, dataModels.lp64, new Uint8Array(256)),
      ip: 0x401000n,
    });
    const buf = new Uint8Array(300);
    buf.set(inner, 40);
    assert.equal(decode(sigcontext_64, dataModels.lp64, buf, 40).ip, 0x401000n);
  });
});

describe('errors name the member and the byte offset', () => {
  test('truncated input', () => {
    const err = (() => {
      try {
        decode(ucontext, dataModels.lp64, new Uint8Array(100));
      } catch (e) {
        return e;
      }
    })();
    assert.ok(err instanceof DecodeError);
    assert.equal(err.where.offset, 100);
    assert.equal(err.where.path, 'ucontext.uc_mcontext.r15');
    assert.match(err.message, /input ends at byte 100, but ucontext needs 304 bytes/);
  });

  test('truncation inside an array of registers names the element', () => {
    assert.throws(
      () => decode(fpstate_32, dataModels.ilp32, new Uint8Array(300)),
      (e: unknown) =>
        e instanceof DecodeError && e.where.path === '_fpstate_32._xmm[1]' && e.where.offset === 300,
    );
  });

  test('values of the wrong type or range', () => {
    const base = decode(sigcontext_64, dataModels.lp64, new Uint8Array(256));
    assert.throws(
      () => encode(sigcontext_64, dataModels.lp64, { ...base, cs: 70000 }),
      (e: unknown) =>
        e instanceof SchemaError &&
        /sigcontext_64\.cs: expected __u16 as integer in 0\.\.65535, got 70000/.test(e.message),
    );
    assert.throws(
      () =>
        encode(sigcontext_64, dataModels.lp64, { ...base, reserved1: [...base.reserved1.slice(0, 7), -1n] }),
      /sigcontext_64\.reserved1\[7\]: expected __u64 as bigint/,
    );
    const { ip: _ip, ...missing } = base;
    assert.throws(
      () => encode(sigcontext_64, dataModels.lp64, missing as typeof base),
      /sigcontext_64\.ip: missing member/,
    );
  });
});

describe('the compiled fast path agrees with the interpreter', () => {
  // flatten() is the projection the compiled frame reader and writer are generated from; a reader
  // compiled from it with schema/compile.ts must give what decode() gives, member by member, on
  // aligned and unaligned input.
  const compileLeaves = (s: Parameters<typeof flatten>[0], m: (typeof models)[number]) => {
    const fields = flatten(s, m);
    const align = Math.max(1, ...fields.map((f) => f.size)) as 1 | 2 | 4 | 8;
    return compileAccess((fast, slow) => {
      const body = (a: typeof fast) =>
        fields
          .map((f, i) => {
            const raw = a.read('b', f.offset, f.size);
            return `out[${i}] = ${f.size === 8 ? raw : `BigInt(${raw})`};`;
          })
          .join('\n');
      return `
function readSlow(bytes, at) { if (bytes !== LAST) views(bytes); const b = OFF + at; const out = []; ${body(slow)} return out; }
return function read(bytes, at) {
  if (bytes !== LAST) views(bytes);
  const b = OFF + at;
  ${fast.bases('b', align, 'readSlow(bytes, at)')}
  const out = [];
  ${body(fast)}
  return out;
};`;
    }, {}) as (bytes: Uint8Array, at: number) => bigint[];
  };
  for (const s of allStructs) {
    for (const m of models) {
      test(`${s.name} (${m.name}): every integer leaf`, () => {
        const read = compileLeaves(s, m);
        const fields = flatten(s, m);
        const size = sizeOf(s, m);
        fc.assert(
          fc.property(
            fc.uint8Array({ minLength: size, maxLength: size }),
            fc.integer({ min: 0, max: 7 }),
            (raw, shift) => {
              const buf = new Uint8Array(size + 8);
              buf.set(raw, shift);
              const want = decode(s, m, buf, shift) as unknown;
              const got = read(buf, shift);
              fields.forEach((f, i) => {
                const v = valueAt(want, f.path) as number | bigint;
                const unsigned = BigInt.asUintN(f.size * 8, BigInt(v));
                assert.equal(got[i], unsigned, `${s.name}.${f.path}`);
                assert.equal(typeof v === 'bigint', f.bigint, `${s.name}.${f.path}: bigint`);
              });
            },
          ),
          { numRuns: 10 },
        );
      });
    }
  }
});

describe('one struct, two declarations', () => {
  test('the FSAVE header (fregs_state) is the first 112 bytes of the uapi _fpstate_32, member for member', () => {
    // The kernel's struct fregs_state (asm/fpu/types.h) and the uapi header name the same bytes.
    const uapiName: Record<string, string> = {
      cwd: 'cw',
      swd: 'sw',
      twd: 'tag',
      fip: 'ipoff',
      fcs: 'cssel',
      foo: 'dataoff',
      fos: 'datasel',
      st_space: '_st',
      status: 'status',
      magic: 'magic',
    };
    for (const m of [dataModels.ilp32, dataModels.lp64]) {
      const kernel = layoutOf(fregs_state, m).fields;
      assert.deepEqual(
        Object.keys(uapiName),
        kernel.map((f) => f.name),
      );
      for (const f of kernel) {
        const u = locate(fpstate_32, m, uapiName[f.name]!);
        assert.deepEqual([u.offset, u.size], [f.offset, f.size], `${f.name} / ${uapiName[f.name]}`);
      }
      assert.equal(sizeOf(fregs_state, m), FREGS_STATE_SIZE);
    }
  });
});

describe('memo: one answer per object and key, the last one kept for repeated calls', () => {
  test('answers as a fresh lookup would, whatever the order of calls (fast-check)', () => {
    const objects = [{ n: 1 }, { n: 2 }, { n: 3 }];
    let computed = 0;
    const m = memo(
      (o: { n: number }, a: bigint, b: string) => {
        computed++;
        return `${o.n}|${a}|${b}`;
      },
      (a, b) => `${a}|${b}`,
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(2), fc.bigInt({ min: 0n, max: 3n }), fc.constantFrom('x', 'y')), {
          maxLength: 40,
        }),
        (calls) => {
          for (const [i, a, b] of calls) assert.equal(m(objects[i]!, a, b), `${objects[i]!.n}|${a}|${b}`);
        },
      ),
    );
    // Each of the 3 × 4 × 2 questions computed once, however often it was asked.
    assert.ok(computed <= 24, `computed ${computed} times`);
  });
});

describe('decode() results are ordinary V8 objects', () => {
  test('binary-parser without its context-variable deletes: fast properties, the same values', () => {
    // %HasFastProperties needs --allow-natives-syntax, so the check runs in a child process.
    const script = `
      import { dataModels } from './layouts/abi.js';
      import { sigcontext_64, ucontext } from './layouts/uapi.js';
      import { decode } from './src/schema/parse.js';
      const bytes = new Uint8Array(4096).map((_, i) => i * 7);
      const out = [];
      for (const node of [sigcontext_64, ucontext]) {
        const v = decode(node, dataModels.lp64, bytes, 8);
        out.push(%HasFastProperties(v));
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(
      process.execPath,
      ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: join(import.meta.dirname, '..'),
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [true, true]);
    // The values are binary-parser's: one member read back at its offset.
    const bytes = new Uint8Array(4096).map((_, i) => i * 7);
    const sc = decode(sigcontext_64, dataModels.lp64, bytes, 8);
    const at = 8 + locate(sigcontext_64, dataModels.lp64, 'ip').offset;
    assert.equal(sc.ip, new DataView(bytes.buffer).getBigUint64(at, true));
  });
});
