import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dataModels } from '../layouts/abi.js';
import { fpstate_64, xstate_header } from '../layouts/uapi.js';
import { ConvertRefused, convertImage } from '../src/compat/convert.js';
import { buildFrame } from '../src/frame/build.js';
import { parseState } from '../src/frame/state.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { loadProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { sampleMap } from '../src/report/map.js';
import { InputError } from '../src/schema/errors.js';
import { locate } from '../src/schema/layout.js';
import { SW_RESERVED, XSAVE_HEADER_OFFSET } from '../src/xsave/catalog.js';
import { cli, fixture } from './support/helpers.js';

const field = (path: string) => locate(fpstate_64, dataModels.lp64, `sw_reserved.${path}`).offset;
const SW = {
  extended_size: field('extended_size'),
  xfeatures: field('xfeatures'),
  xstate_size: field('xstate_size'),
};
const XCOMP_BV = XSAVE_HEADER_OFFSET + locate(xstate_header, dataModels.lp64, 'reserved1').offset;

/** Issue #14: inputs that were answered silently and wrongly. Each case through the library and the CLI. */

const tmp = mkdtempSync(join(tmpdir(), 'sigframe-consistency-'));
const frames = (...p: string[]) => fixture('frames', ...p);
const hostProfile = frames('host-profile.json');

/** A failed CLI run: the exit code, one line on stderr, the words expected, no bigint `n`. */
function fails(r: { code: number; stdout: string; stderr: string }, code: number, ...words: RegExp[]) {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}${r.stdout}`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one stderr line: ${r.stderr}`);
  for (const w of words) assert.match(lines[0]!, w);
  assert.doesNotMatch(lines[0]!, /\b\d+n\b/, 'no bigint suffixes');
}

/** The library's error: its class and the words. */
function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, ...words: RegExp[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    for (const w of words) assert.match((e as Error).message, w);
    assert.doesNotMatch((e as Error).message, /\b\d+n\b/, 'no bigint suffixes');
    return true;
  });
}

// The AVX-512 capture's state, as `sigframe decode --json` prints it.
const decodedJson = cli('decode', frames('x86_64-sigusr1-vectors.json'), '--json').stdout;
/** A decoded state as JSON: fields reached by name, as a test edits them. */
// biome-ignore lint/suspicious/noExplicitAny: test edits of parsed JSON
type Json = any;
const withState = (name: string, edit: (s: Json) => void): string => {
  const doc = JSON.parse(decodedJson);
  edit(doc.state);
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, JSON.stringify(doc));
  return file;
};
const original = withState('original', () => {});
const stateOf = (file: string) => parseState(JSON.parse(readFileSync(file, 'utf8')).state);

describe('XSTATE_BV agrees with the components: build checks it, so diff sees it', () => {
  const cases: [string, (s: Json) => void, string, RegExp[]][] = [
    [
      'a bit outside the task features',
      (s) => (s.fpu.xstate_bv = '0x1e7'),
      'fpu.xstate_bv',
      [/fpu\.xstate_bv: 0x1e7 marks PT in use/, /XSAVE features are 0xe7/],
    ],
    ['PKRU on a CPU without it', (s) => (s.fpu.xstate_bv = '0x2e7'), 'fpu.xstate_bv', [/marks PKRU in use/]],
    ['FP and SSE missing', (s) => (s.fpu.xstate_bv = '0xe4'), 'fpu.xstate_bv', [/lacks FP\|SSE/]],
    [
      'values for a component not in XSTATE_BV',
      (s) => (s.fpu.xstate_bv = '0xe3'),
      'fpu.components.YMM',
      [/fpu\.components\.YMM: given, but fpu\.xstate_bv 0xe3 does not mark it \(bit 2\)/],
    ],
    [
      'a bit in XSTATE_BV with no values',
      (s) => delete s.fpu.components.OPMASK,
      'fpu.components.OPMASK',
      [/fpu\.components\.OPMASK: fpu\.xstate_bv 0xe7 marks it \(bit 5\) in use, but the state has no values/],
    ],
    [
      'pkru for a task without PKRU',
      (s) => (s.fpu.pkru = 0x55555554),
      'fpu.pkru',
      [/fpu\.pkru: given/, /no PKRU/],
    ],
  ];
  for (const [name, edit, path, words] of cases) {
    test(name, () => {
      const file = withState(name.replace(/\W+/g, '-'), edit);
      const s = stateOf(file);
      assert.throws(
        () => buildFrame(s, stateTarget(s)),
        (e: unknown) =>
          e instanceof InputError && e.where.path === path && words.every((w) => w.test(e.message)),
      );
      fails(cli('build', file), 2, ...words);
      // diff builds both sides: it no longer says "no differences" for a state build would reject.
      fails(cli('diff', original, file), 2, ...words);
    });
  }

  test('the state as decoded builds, and diff against itself is empty', () => {
    const s = stateOf(original);
    assert.equal(buildFrame(s, stateTarget(s)).xstateBv, 0xe7n);
    const r = cli('diff', original, frames('x86_64-sigusr1-vectors.json'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no differences/);
  });

  test('a consistent change of XSTATE_BV is a difference diff reports', () => {
    const fewer = withState('fewer', (s) => {
      s.fpu.xstate_bv = '0x7';
      for (const n of ['OPMASK', 'ZMM_Hi256', 'Hi16_ZMM']) delete s.fpu.components[n];
    });
    const r = cli('diff', original, fewer, '--json');
    assert.equal(r.code, 1, r.stderr);
    const paths = JSON.parse(r.stdout).differences.map((d: { path: string }) => d.path);
    assert.ok(paths.includes('state.fpu.xstate_bv'));
    assert.ok(paths.some((p: string) => p.startsWith('state.fpu.components.OPMASK')));
  });
});

describe("a capture's bin is a file in the capture's folder", () => {
  const dir = mkdtempSync(join(tmp, 'capture-'));
  copyFileSync(frames('x86_64-nested.bin'), join(dir, 'x86_64-nested.bin'));
  copyFileSync(hostProfile, join(dir, 'host-profile.json'));
  const info = JSON.parse(readFileSync(frames('x86_64-nested.json'), 'utf8'));
  const capture = (name: string, bin: unknown) => {
    const file = join(dir, `${name}.json`);
    writeFileSync(file, JSON.stringify({ ...info, bin }));
    return file;
  };

  test('relative to the capture, wherever the command runs', () => {
    const file = capture('ok', 'x86_64-nested.bin');
    assert.equal(loadFrame(file).decoded.state.kind, 'x86_64');
    const r = cli('decode', file, '--json');
    assert.equal(r.code, 0, r.stderr);
  });

  const refused: [string, unknown, RegExp[]][] = [
    [
      'an absolute path',
      frames('x86_64-nested.bin'),
      [/bin "\/.*x86_64-nested\.bin" is an absolute path/, /no option/],
    ],
    [
      'a path that leaves the folder',
      '../../../etc/passwd',
      [/bin "\.\.\/\.\.\/\.\.\/etc\/passwd" leaves the capture's folder/],
    ],
    ['a path through the folder and out', 'sub/../../x86_64-nested.bin', [/leaves the capture's folder/]],
    ['the folder itself', '.', [/names the capture's folder itself/]],
    ['no name', '', [/bin: expected the file name/]],
  ];
  for (const [name, bin, words] of refused) {
    test(`refused: ${name}`, () => {
      const file = capture(name.replace(/\W+/g, '-'), bin);
      throwsWith(() => loadFrame(file), InputError, ...words);
      fails(cli('decode', file), 2, ...words);
    });
  }
  test('the profile a capture names follows the same rule', () => {
    const file = join(dir, 'profile-out.json');
    writeFileSync(file, JSON.stringify({ ...info, bin: 'x86_64-nested.bin', profile: '../../etc/passwd' }));
    const words = [/profile "\.\.\/\.\.\/etc\/passwd" leaves the capture's folder/];
    throwsWith(() => loadFrame(file), InputError, ...words);
    fails(cli('decode', file), 2, ...words);
  });
});

describe('convert --image: the source is validated against --from first', () => {
  const bin = readFileSync(frames('x86_64-sigusr1-vectors.bin'));
  // The capture's XSAVE image (at frame + 456, 2432 bytes for XCR0 0xe7 on this AMD profile).
  const image = new Uint8Array(bin.subarray(456, 456 + 2432));
  const from = loadProfile(hostProfile);
  const kernel = chooseKernel('6.18');
  const config = { bits: 64 as const };
  const write = (name: string, bytes: Uint8Array) => {
    const file = join(tmp, `${name}.bin`);
    writeFileSync(file, bytes);
    return file;
  };
  const edited = (edit: (b: Uint8Array) => void) => {
    const b = image.slice();
    edit(b);
    return b;
  };
  const convert = (file: string, to = 'intel-cascade-lake') =>
    cli('convert', file, '--image', '--from', hostProfile, '--to', to);

  const bad: [string, Uint8Array, RegExp[]][] = [
    [
      'random bytes',
      (() => {
        let x = 0x12345678;
        return Uint8Array.from({ length: 2432 }, () => {
          x = (x * 1103515245 + 12345) >>> 0;
          return x >>> 24;
        });
      })(),
      [/XSAVE image/, /byte \d+/],
    ],
    ['a whole frame', new Uint8Array(bin), [/2952 bytes, but a standard-format image/, /2432 bytes/]],
    ['too short', image.subarray(0, 500), [/500 bytes; an XSAVE image is at least 576/]],
    [
      'XSTATE_BV outside XCR0',
      edited((b) => {
        b[512] = b[512]! | 0x10;
      }),
      [/XSTATE_BV \(header\.xfeatures, byte 512\) is 0xf7/, /outside the image's XCR0 0xe7/],
    ],
    [
      'a header reserved byte set',
      edited((b) => {
        b[540] = 1;
      }),
      [/header byte 28 \(byte 540\)/],
    ],
    [
      'a compacted image',
      edited((b) => {
        b[527] = 0x80;
      }),
      [new RegExp(`XCOMP_BV \\(header, byte ${XCOMP_BV}\\)`), /compacted/],
    ],
    [
      'sw_reserved.xstate_size wrong',
      edited((b) => {
        new DataView(b.buffer).setUint32(SW.xstate_size, 2436, true);
      }),
      [new RegExp(`sw_reserved\\.xstate_size \\(byte ${SW.xstate_size}\\) is 2436`), /2432/],
    ],
    [
      'sw_reserved.xfeatures beyond the kernel',
      edited((b) => {
        b[SW.xfeatures] = 0xff;
      }),
      [new RegExp(`sw_reserved\\.xfeatures \\(byte ${SW.xfeatures}\\) is 0xff`)],
    ],
    [
      'MXCSR outside MXCSR_MASK',
      edited((b) => new DataView(b.buffer).setUint32(24, 0xffffffff, true)),
      [/MXCSR 0xffffffff/, /byte 24/],
    ],
  ];
  for (const [name, bytes, words] of bad) {
    test(`bad input, exit 2: ${name}`, () => {
      throwsWith(
        () => convertImage(bytes, from, loadProfile('intel-cascade-lake'), kernel, config),
        InputError,
        ...words,
      );
      fails(convert(write(name.replace(/\W+/g, '-'), bytes)), 2, ...words);
    });
  }

  test('a valid image the destination cannot hold: exit 1, a refusal', () => {
    throwsWith(
      () => convertImage(image, from, loadProfile('intel-haswell-ep'), kernel, config),
      ConvertRefused,
      /intel-haswell-ep has no OPMASK/,
    );
    fails(
      convert(write('valid', image), 'intel-haswell-ep'),
      1,
      /cannot convert: intel-haswell-ep has no OPMASK/,
    );
  });

  test('valid images convert: with sw_reserved (rewritten for the destination), with MAGIC2, without sw_reserved', () => {
    const to = loadProfile('intel-cascade-lake');
    const out = convertImage(image, from, to, kernel, config);
    assert.equal(out.length, 2696);
    const dv = new DataView(out.buffer);
    assert.equal(dv.getUint32(SW.xstate_size, true), 2696, 'sw_reserved.xstate_size is the destination size');
    assert.equal(dv.getUint32(SW.extended_size, true), 2700, 'sw_reserved.extended_size follows');
    const withMagic2 = new Uint8Array(bin.subarray(456, 456 + 2436));
    const out2 = convertImage(withMagic2, from, to, kernel, config);
    assert.equal(out2.length, 2700);
    assert.equal(new DataView(out2.buffer).getUint32(2696, true), 0x46505845, 'MAGIC2 after the image');
    const bare = edited((b) => b.fill(0, SW_RESERVED.offset, SW_RESERVED.offset + SW_RESERVED.size));
    assert.equal(convertImage(bare, from, to, kernel, config).length, 2696);
    const r = convert(write('bare', bare));
    assert.equal(r.code, 0, r.stderr);
  });
});

describe('addresses outside user space', () => {
  const sapphire = loadProfile('intel-sapphire-rapids');
  const cascade = loadProfile('intel-cascade-lake');
  const kernel = chooseKernel('6.18');
  const map = (profile = sapphire, top?: bigint, kind: 'x86_64' | 'ia32' = 'x86_64') =>
    sampleMap(kind, profile, profile.name, kernel, { bits: 64 }, 'none', top);

  const tops: [string, string, RegExp[], ReturnType<typeof loadProfile>?, ('x86_64' | 'ia32')?][] = [
    [
      'the top of the address space',
      '0xffffffffffffffff',
      [
        /--top 0xffffffffffffffff/,
        /outside user space/,
        /0xfffffffffff000, the end of x86_64 user space with 5-level paging/,
        /0x7ffffffff000 with 4-level/,
      ],
    ],
    ['zero', '0', [/--top 0x0/, /below address 0/, /0x10000 \(vm\.mmap_min_addr/]],
    ['just above zero', '0x100', [/--top 0x100/, /mmap_min_addr/]],
    [
      'above 47 bits on a CPU without LA57',
      '0x800000000000',
      [/--top 0x800000000000/, /0x7ffffffff000, the end of x86_64 user space with 4-level paging/, /no LA57/],
      cascade,
    ],
    [
      'above 4 GiB for an ia32 task',
      '0x100000000',
      [/--top 0x100000000/, /0xffffe000/, /ia32 task/],
      cascade,
      'ia32',
    ],
  ];
  for (const [name, top, words, profile, kind] of tops) {
    test(`map --top: ${name}`, () => {
      throwsWith(() => map(profile, BigInt(top), kind), InputError, ...words);
      fails(
        cli('map', '--profile', (profile ?? sapphire).name, '--top', top, ...(kind ? ['--abi', kind] : [])),
        2,
        ...words,
      );
    });
  }

  test('map --top within user space: built, up to the limit that applies', () => {
    assert.equal(map(cascade, 0x7ffffffff000n).top, 0x7ffffffff000n);
    // A CPU with LA57 may run 5-level paging: 47 bits and more are accepted.
    assert.equal(map(sapphire, 0x800000000000n).top, 0x800000000000n);
    const r = cli('map', '--profile', 'intel-cascade-lake', '--top', '0x7ffffffff000');
    assert.equal(r.code, 0, r.stderr);
  });

  const raw = frames('x86_64-sigusr1-vectors.bin');
  const addresses: [string, string, string[], RegExp[]][] = [
    [
      'the top of the address space',
      '0xffffffffffffffff',
      [],
      [
        /--address 0xffffffffffffffff/,
        /would span 0xffffffffffffffff\.\.0x10000000000000b87 \(2952 bytes\)/,
        /5-level paging/,
      ],
    ],
    ['below mmap_min_addr', '0x1000', [], [/--address 0x1000/, /mmap_min_addr/]],
    [
      'past 47 bits with a CPU without LA57',
      '0x7ffffffff000',
      ['--profile', 'intel-cascade-lake'],
      [/--address 0x7ffffffff000/, /0x7ffffffff000, the end of x86_64 user space with 4-level paging/],
    ],
    ['past 4 GiB for --abi ia32', '0xfffff000', ['--abi', 'ia32'], [/--address 0xfffff000/, /0xffffe000/]],
  ];
  for (const [name, address, extra, words] of addresses) {
    test(`decode --address: ${name}`, () => {
      const o = {
        address: BigInt(address),
        ...(extra[0] === '--profile' ? { profile: extra[1]! } : {}),
        ...(extra[0] === '--abi' ? { kind: extra[1] as 'ia32' } : {}),
      };
      throwsWith(() => loadFrame(raw, o), InputError, ...words);
      fails(cli('decode', raw, '--address', address, ...extra), 2, ...words);
    });
  }

  test('a capture whose bytes lie outside user space', () => {
    const dir = mkdtempSync(join(tmp, 'high-'));
    copyFileSync(frames('x86_64-nested.bin'), join(dir, 'x86_64-nested.bin'));
    const info = JSON.parse(readFileSync(frames('x86_64-nested.json'), 'utf8'));
    const len = BigInt(info.top) - BigInt(info.address);
    const file = join(dir, 'high.json');
    const address = 0xffff_ffff_ffff_0000n;
    writeFileSync(
      file,
      JSON.stringify({
        ...info,
        address: `0x${address.toString(16)}`,
        top: `0x${(address + len).toString(16)}`,
      }),
    );
    const words = [/address 0xffffffffffff0000/, /outside user space/];
    throwsWith(() => loadFrame(file), InputError, ...words);
    fails(cli('decode', file), 2, ...words);
  });
});
