import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, fixture } from './support/helpers.js';

// User mistakes on every command that reads or writes a file: each is exit 2, one line on stderr
// naming the path or option, no stack trace, and an answer within seconds (a hang fails the
// test's timeout).
const tmp = mkdtempSync(join(tmpdir(), 'sigframe-bad-'));
const empty = join(tmp, 'empty');
writeFileSync(empty, '');
const dir = fixture('frames');
const capture = fixture('frames', 'x86_64-sigusr1-vectors.json');
const state = join(tmp, 'state.json');
// The first 1000 bytes of a captured frame: the struct is there, the XSAVE image is cut off.
const truncated = join(tmp, 'truncated.bin');
writeFileSync(truncated, readFileSync(fixture('frames', 'x86_64-sigusr1-vectors.bin')).subarray(0, 1000));
const capturedAt = JSON.parse(readFileSync(capture, 'utf8')).address as string;
// States edited from decoded captures: a frame placed outside user space; two PKRU values.
const kernelSp = join(tmp, 'state-kernel-sp.json');
const altstackOutside = join(tmp, 'state-altstack-outside.json');
const twoPkru = join(tmp, 'state-two-pkru.json');
const pkruCapture = fixture('frames', 'amd-epyc-pkru', 'x86_64-autodisarm.json');

const rows: readonly (readonly [string, readonly string[], RegExp])[] = [
  ['decode: a directory', ['decode', dir], /a directory, expected a frame/],
  ['decode: a missing file', ['decode', join(tmp, 'nope')], /no such file/],
  ['decode: an empty file', ['decode', empty, '--address', '0x1000'], /input|outside|bytes/],
  [
    'decode: a truncated raw frame, with the right profile',
    ['decode', truncated, '--address', capturedAt, '--profile', 'amd-epyc-zen4-kvm'],
    /the input ends at 0x[0-9a-f]+, 1000 bytes, expected the frame through/,
  ],
  [
    'decode: a truncated raw frame, inferred',
    ['decode', truncated, '--address', capturedAt],
    /the input ends/,
  ],
  ['build: a directory', ['build', dir], /a directory/],
  [
    'build: --out in a missing folder',
    ['build', state, '--out', '/nonexistent/x.bin'],
    /cannot write .*--out/,
  ],
  ['build: --out a directory', ['build', state, '--out', tmp], /a directory; the frame bytes/],
  ['diff: a directory', ['diff', dir, capture], /a directory/],
  ['map: a directory', ['map', dir], /a directory/],
  ['map: --svg a directory', ['map', '--profile', 'intel-haswell-ep', '--svg', tmp], /--svg/],
  [
    'map: --html in a missing folder',
    ['map', '--profile', 'intel-haswell-ep', '--html', '/nonexistent/d/x.html'],
    /--html/,
  ],
  ['convert: a directory', ['convert', dir, '--to', 'intel-haswell-ep'], /a directory/],
  ['convert: --out a directory', ['convert', capture, '--to', 'amd-zen4-genoa', '--out', tmp], /a directory/],
  ['size --profile: a directory', ['size', '--profile', dir], /a directory, expected a profile/],
  ['size --cpuid-dump: a directory', ['size', '--cpuid-dump', dir], /a directory/],
  ['compat --from: a directory', ['compat', '--from', dir, '--to', 'intel-haswell-ep'], /a directory/],
  ['compat: no --from/--to', ['compat'], /give --from and --to/],
  ['compat: --from without --to', ['compat', '--from', 'intel-haswell-ep'], /no --to/],
  ['compat: --matrix with --from', ['compat', '--matrix', '--from', 'intel-haswell-ep'], /--matrix/],
  ['profiles --from-dump: a missing file', ['profiles', '--from-dump', join(tmp, 'nope')], /no such file/],
  ['capture --out under /proc', ['capture', '--out', '/proc/nope'], /cannot create the captures/],
  ['capture --out a file', ['capture', '--out', empty], /not a directory/],
  ['capture --out empty', ['capture', '--out', ''], /no output folder/],
  ['sigreturn: a folder without runs', ['sigreturn', tmp], /no x86_64\.json or ia32\.json/],
  [
    'sigreturn --transplant: an ia32 frame',
    ['sigreturn', '--transplant', fixture('frames', 'ia32-rt-sigusr1.json')],
    /needs an x86_64 frame with an FP image/,
  ],
  [
    'sigreturn --transplant: a missing file',
    ['sigreturn', '--transplant', join(tmp, 'nope')],
    /no such file/,
  ],
  [
    'sigreturn --transplant with saved runs',
    [
      'sigreturn',
      fixture('sigreturn', 'amd-epyc-zen4'),
      '--transplant',
      fixture('frames', 'x86_64-nested.json'),
    ],
    /--transplant is for a live run/,
  ],
  ['core: a directory', ['core', dir], /a directory, expected an ELF core file/],
  ['core: an empty file', ['core', empty], /not an ELF file/],
  ['gen c --out a file', ['gen', 'c', '--out', empty], /not a directory/],
  ['gen c --out under /proc', ['gen', 'c', '--out', '/proc/nope'], /cannot create the header folder/],
  ['gen c --out empty', ['gen', 'c', '--out', ''], /no output folder/],
  ['gen: an unknown language', ['gen', 'java'], /Choices: "c"/],
  [
    'build: a frame outside user space',
    ['build', kernelSp],
    /delivery\.sp 0xffff800000001000: .*outside user space/,
  ],
  [
    'build: an alt stack reaching past user space',
    ['build', altstackOutside],
    /delivery\.altstack\.sp .*outside user space/,
  ],
  [
    'build: fpu.pkru and components.PKRU differ',
    ['build', twoPkru],
    /fpu\.pkru: .* fpu\.components\.PKRU\.pkru/,
  ],
  [
    'compat --amx with --what xsave-image',
    [
      'compat',
      '--from',
      'intel-haswell-ep',
      '--to',
      'amd-zen4-genoa',
      '--what',
      'xsave-image',
      '--amx',
      'used',
    ],
    /--amx needs --what frame/,
  ],
  [
    'profiles --from-dump --kernel-bits 32',
    [
      'profiles',
      '--from-dump',
      fixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt'),
      '--kernel-bits',
      '32',
    ],
    /--from-dump and --kernel-bits cannot be combined/,
  ],
];

describe('bad input: exit 2, one line, no trace', () => {
  test('a state to build from', () => {
    const r = cli('decode', capture, '--json');
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(state, r.stdout);
    // The decode JSON of a state, edited as plain data.
    type Edited = {
      delivery: Record<string, unknown>;
      fpu: { pkru?: number; components: { PKRU: { pkru: number } } };
    };
    const edited = (from: string, to: string, edit: (s: Edited) => void) => {
      const d = JSON.parse(from);
      edit(d.state);
      writeFileSync(to, JSON.stringify(d));
    };
    edited(r.stdout, kernelSp, (s) => {
      s.delivery = { sp: '0xffff800000001000', onstack: false, altstack: null };
    });
    edited(r.stdout, altstackOutside, (s) => {
      s.delivery.onstack = true;
      s.delivery.altstack = { sp: '0x7ffffffff000', size: '0xf000', flags: 0 };
      s.delivery.sp = '0x10000000';
    });
    const p = cli('decode', pkruCapture, '--json');
    assert.equal(p.code, 0, p.stderr);
    edited(p.stdout, twoPkru, (s) => {
      s.fpu.pkru = s.fpu.components.PKRU.pkru ^ 4;
    });
  });
  for (const [name, args, message] of rows) {
    test(name, { timeout: 20_000 }, () => {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(r.stderr, /\bat .*:\d+:\d+|Error:/, 'no stack trace');
    });
  }
});
