import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as build from '../cli/commands/build.js';
import * as capture from '../cli/commands/capture.js';
import { EXAMPLE_WIDTH, type Example } from '../cli/commands/common.js';
import * as compat from '../cli/commands/compat.js';
import * as convert from '../cli/commands/convert.js';
import * as core from '../cli/commands/core.js';
import * as cpuid from '../cli/commands/cpuid.js';
import * as decode from '../cli/commands/decode.js';
import * as diff from '../cli/commands/diff.js';
import * as gen from '../cli/commands/gen.js';
import * as layout from '../cli/commands/layout.js';
import * as map from '../cli/commands/map.js';
import * as profiles from '../cli/commands/profiles.js';
import * as sigreturn from '../cli/commands/sigreturn.js';
import * as size from '../cli/commands/size.js';
import { parseKernelVersion } from '../src/kernel/eras.js';
import { cli, cliWithEnv, fixture, root } from './support/helpers.js';

// The CLI conventions of issue #14: --json is one JSON object on stdout whatever the exit code,
// messages name the option, options that do not apply are refused, and help fits 80 columns.

const tmp = mkdtempSync(join(tmpdir(), 'sigframe-conventions-'));
const capture64 = fixture('frames', 'x86_64-sigusr1-vectors.json');
const raw64 = fixture('frames', 'x86_64-sigusr1-vectors.bin');
const nested = fixture('frames', 'x86_64-nested.json');
const dump = fixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt');
const coreFile = fixture('cores', 'zen4-x86_64', 'core');
const state = join(tmp, 'state.json');
// A state (decode output) for build and for the rows that refuse options a state does not use.
writeFileSync(state, cli('decode', nested, '--json').stdout);

const commands = {
  size,
  capture,
  decode,
  sigreturn,
  core,
  build,
  diff,
  compat,
  convert,
  map,
  cpuid,
  layout,
  profiles,
  gen,
} as const;

const BIGINT_SUFFIX = /\b\d+n\b/;

/** The one JSON object stdout must hold. */
function oneObject(r: { stdout: string }, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(r.stdout);
  } catch (e) {
    assert.fail(
      `${what}: stdout is not one JSON value (${(e as Error).message}):\n${r.stdout.slice(0, 400)}`,
    );
  }
  assert.ok(
    v !== null && typeof v === 'object' && !Array.isArray(v),
    `${what}: a JSON object, not ${typeof v}`,
  );
  return v as Record<string, unknown>;
}

describe('--json: one JSON object on stdout, whatever the exit code', { concurrency: true }, () => {
  const cases: readonly (readonly [string, readonly string[], number])[] = [
    ['size', ['size', '--profile', 'intel-sapphire-rapids'], 0],
    ['size --all', ['size', '--all'], 0],
    ['decode', ['decode', capture64], 0],
    ['diff, different (exit 1)', ['diff', nested, fixture('frames', 'x86_64-autodisarm.json')], 1],
    ['diff, the same', ['diff', nested, nested], 0],
    [
      'compat, incompatible (exit 1)',
      ['compat', '--from', 'intel-cascade-lake', '--to', 'amd-zen4-genoa'],
      1,
    ],
    ['compat --matrix', ['compat', '--matrix'], 0],
    ['convert', ['convert', nested, '--to', 'amd-zen4-genoa'], 0],
    ['convert, refused (exit 1)', ['convert', capture64, '--to', 'intel-haswell-ep'], 1],
    ['map', ['map', capture64], 0],
    ['map, built', ['map', '--profile', 'intel-haswell-ep'], 0],
    ['cpuid', ['cpuid', '--input', dump], 0],
    ['layout', ['layout', '--profile', 'intel-sapphire-rapids'], 0],
    ['layout --struct', ['layout', '--struct', 'sigcontext_64'], 0],
    ['layout --c-asserts', ['layout', '--struct', 'sigcontext_64', '--c-asserts'], 0],
    ['profiles', ['profiles'], 0],
    ['profiles --from-dump', ['profiles', '--from-dump', dump], 0],
    ['core', ['core', coreFile], 0],
    ['sigreturn, saved runs', ['sigreturn', fixture('sigreturn', 'amd-epyc-zen4')], 0],
    ['build', ['build', state], 0],
    ['gen c', ['gen', 'c'], 0],
    ['gen c --out', ['gen', 'c', '--out', join(tmp, 'gen')], 0],
    ['--version', ['--version'], 0],
    ['--help', ['--help'], 0],
    ['size --help', ['size', '--help'], 0],
    ['capture: bad input (exit 2)', ['capture', '--out', '/proc/nope'], 2],
    ['decode: bad input (exit 2)', ['decode', join(tmp, 'nope')], 2],
    ['usage: unknown option (exit 2)', ['layout', '--bogus'], 2],
    ['usage: no command (exit 2)', [], 2],
    ['usage: a missing value (exit 2)', ['decode', capture64, '--address'], 2],
  ];
  for (const [name, args, code] of cases) {
    test(name, { timeout: 60_000 }, () => {
      const what = `sigframe ${args.join(' ')} --json`;
      const r = cli(...args, '--json');
      assert.equal(r.code, code, `${what}: exit ${r.code}\n${r.stderr}`);
      const o = oneObject(r, what);
      if (code === 2) {
        assert.equal(typeof o.error, 'string', `${what}: {"error": ...}`);
        assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line on stderr: ${r.stderr}`);
      } else assert.equal(o.error, undefined, `${what}: no error member`);
    });
  }

  test('shapes: size --all rows, the C asserts as lines, the version, a refused conversion', () => {
    const all = oneObject(cli('size', '--all', '--json'), 'size --all');
    assert.ok(Array.isArray(all.rows) && all.rows.length >= 70);
    assert.deepEqual(Object.keys((all.rows as object[])[0]!).slice(0, 3), ['profile', 'era', 'amx']);
    const c = oneObject(
      cli('layout', '--struct', 'sigcontext_32', '--abi', 'ia32', '--c-asserts', '--json'),
      'asserts',
    );
    assert.deepEqual([c.struct, c.abi], ['sigcontext_32', 'ia32']);
    assert.ok(
      (c.asserts as string[]).some((l) =>
        /^_Static_assert\(offsetof\(struct sigcontext_32, fpstate\) == 76,/.test(l),
      ),
    );
    assert.equal(
      oneObject(cli('--version', '--json'), 'version').version,
      JSON.parse(
        spawnSync('node', ['-p', 'JSON.stringify(require("./package.json").version)'], {
          cwd: root,
          encoding: 'utf8',
        }).stdout,
      ),
    );
    const refused = cli('convert', capture64, '--to', 'intel-haswell-ep', '--json');
    const o = oneObject(refused, 'convert refused');
    assert.equal(o.converted, false);
    assert.match(String(o.refused), /cannot hold OPMASK/);
  });

  test('registers are "0x..." strings, mxcsr too (decode and core)', () => {
    const hexOnly = (regs: unknown, where: string) => {
      const leaves = (v: unknown): unknown[] =>
        Array.isArray(v)
          ? v.flatMap(leaves)
          : v && typeof v === 'object'
            ? Object.values(v).flatMap(leaves)
            : [v];
      for (const [k, v] of Object.entries(regs as object)) {
        if (k === 'tilecfg') continue; // a configuration struct, not a register
        for (const x of leaves(v))
          assert.match(String(x), /^0x[0-9a-f]+$/, `${where}.${k}: ${typeof x} ${x}`);
        assert.ok(
          leaves(v).every((x) => typeof x === 'string'),
          `${where}.${k}`,
        );
      }
    };
    const d = oneObject(cli('decode', capture64, '--json'), 'decode');
    assert.equal((d.registers as { mxcsr: string }).mxcsr, '0x1f80');
    hexOnly(d.registers, 'decode.registers');
    const c = oneObject(cli('core', coreFile, '--json'), 'core') as {
      threads: { xstate?: { registers: object }; frames: { registers: object | null }[] }[];
    };
    for (const [i, t] of c.threads.entries()) {
      if (t.xstate) hexOnly(t.xstate.registers, `threads[${i}].xstate.registers`);
      for (const [j, f] of t.frames.entries())
        if (f.registers) hexOnly(f.registers, `threads[${i}].frames[${j}].registers`);
    }
  });
});

describe('messages name the option: exit 2, one line, no bigint suffix', { concurrency: true }, () => {
  const rows: readonly (readonly [string, readonly string[], RegExp])[] = [
    [
      'a negative --address',
      ['decode', raw64, '--address', '-0x10'],
      /^sigframe: --address: -0x10 is not an address \(0x… or decimal, ≥ 0\)$/,
    ],
    ['--address=-0x10', ['decode', raw64, '--address=-0x10'], /--address: -0x10 is not an address/],
    [
      'a negative --top',
      ['map', '--profile', 'intel-haswell-ep', '--top', '-16'],
      /--top: -16 is not an address/,
    ],
    [
      '--frame too wide',
      ['decode', raw64, '--address', '0x1000', '--frame', '18446744073709551616'],
      /--frame: 18446744073709551616 is more than 64 bits/,
    ],
    ['--address without a value', ['decode', raw64, '--address'], /address/],
    [
      '--top-align abc',
      ['size', '--profile', 'intel-haswell-ep', '--top-align', 'abc'],
      /--top-align: abc is not a number/,
    ],
    [
      '--top-align 3',
      ['size', '--profile', 'intel-haswell-ep', '--top-align', '3'],
      /--top-align 3: expected a power of two/,
    ],
    ['--thread abc', ['core', coreFile, '--thread', 'abc'], /--thread: abc is not a number/],
    [
      '--cpuid-dump of a missing file',
      ['size', '--cpuid-dump', join(tmp, 'nonexist')],
      /--cpuid-dump: .*nonexist: no such file/,
    ],
    [
      '--cpuid-dump is not a profile name',
      ['size', '--cpuid-dump', 'intel-haswell-ep'],
      /--cpuid-dump: intel-haswell-ep: no such file/,
    ],
    [
      '--kernel with four numbers',
      ['size', '--profile', 'intel-haswell-ep', '--kernel', '6.18.44.7'],
      /--kernel: .*'6\.18\.44\.7': 4 numeric parts/,
    ],
    [
      '--kernel not a version',
      ['layout', '--profile', 'intel-haswell-ep', '--kernel', 'six'],
      /--kernel: kernel version 'six'/,
    ],
    [
      '--kernel given twice',
      ['size', '--profile', 'intel-haswell-ep', '--kernel', '6.1', '--kernel', '6.2'],
      /--kernel given 2 times/,
    ],
    [
      'compat --to unknown',
      ['compat', '--from', 'intel-haswell-ep', '--to', 'nope'],
      /--to: unknown profile 'nope'/,
    ],
    [
      'decode --profile unknown',
      ['decode', capture64, '--profile', 'nope'],
      /--profile: unknown profile 'nope'/,
    ],
    ['cpuid --input missing', ['cpuid', '--input', join(tmp, 'nope.txt')], /--input: unknown profile/],
    // Options that would be ignored are refused, naming both.
    [
      'size --all --profile',
      ['size', '--all', '--profile', 'intel-haswell-ep'],
      /--all and --profile cannot be combined/,
    ],
    ['size --all --kernel', ['size', '--all', '--kernel', '6.1'], /--all and --kernel cannot be combined/],
    ['size --all --amx', ['size', '--all', '--amx', 'used'], /--all and --amx cannot be combined/],
    ['size --all --libc', ['size', '--all', '--libc', 'musl-1.2.3'], /--all and --libc cannot be combined/],
    [
      'size --profile --cpuid-dump',
      ['size', '--profile', 'intel-haswell-ep', '--cpuid-dump', dump],
      /--cpuid-dump and --profile cannot be combined/,
    ],
    [
      'size --all --cpuid-dump (yargs)',
      ['size', '--all', '--cpuid-dump', dump],
      /all and cpuid-dump are mutually exclusive/,
    ],
    [
      'decode a capture --address',
      ['decode', capture64, '--address', '0x1000'],
      /\(a capture\) and --address cannot be combined/,
    ],
    [
      'decode a state --profile',
      ['decode', state, '--profile', 'intel-haswell-ep'],
      /\(a state\) and --profile cannot be combined/,
    ],
    [
      'decode a state --kernel',
      ['decode', state, '--kernel', '6.1'],
      /\(a state\) and --kernel cannot be combined/,
    ],
    ['map FILE --top', ['map', capture64, '--top', '0x7ffd0000'], /and --top cannot be combined/],
    ['map FILE --abi', ['map', capture64, '--abi', 'ia32'], /and --abi cannot be combined/],
    ['map FILE --amx', ['map', capture64, '--amx', 'used'], /and --amx cannot be combined/],
    [
      'map a state --profile',
      ['map', state, '--profile', 'intel-haswell-ep'],
      /\(a state\) and --profile cannot be combined/,
    ],
    [
      'convert a state --from',
      ['convert', state, '--from', 'intel-haswell-ep', '--to', 'amd-zen4-genoa'],
      /\(a state\) and --from cannot be combined/,
    ],
    [
      'layout --struct --profile',
      ['layout', '--struct', 'sigcontext_64', '--profile', 'nope'],
      /--struct and --profile cannot be combined/,
    ],
    [
      'layout --struct --mask',
      ['layout', '--struct', 'sigcontext_64', '--mask', '0x7'],
      /--struct and --mask cannot be combined/,
    ],
    ['layout --c-asserts alone', ['layout', '--c-asserts'], /--c-asserts needs --struct/],
    ['layout --abi alone', ['layout', '--abi', 'ia32'], /--abi needs --struct/],
    ['profiles --name alone', ['profiles', '--name', 'x'], /--name needs --from-host or --from-dump/],
    ['compat --matrix --from', ['compat', '--matrix', '--from', 'intel-haswell-ep'], /--matrix/],
  ];
  for (const [name, args, message] of rows) {
    test(name, { timeout: 60_000 }, () => {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line: ${r.stderr}`);
      assert.match(lines[0]!, message);
      assert.doesNotMatch(r.stderr, BIGINT_SUFFIX, 'no bigint n suffix');
      assert.equal(r.stdout, '', 'nothing on stdout without --json');
    });
  }

  test('kernel versions as uname -r prints them are taken', { timeout: 60_000 }, () => {
    for (const k of ['6.18', '6.18.44-fc-v1045', '6.19-rc6', '6.12.38+deb13-amd64']) {
      const r = cli('size', '--profile', 'intel-haswell-ep', '--kernel', k, '--json');
      assert.equal(r.code, 0, `${k}: ${r.stderr}`);
    }
  });
});

describe('parseKernelVersion', () => {
  test('MAJOR.MINOR[.PATCH] with a uname -r suffix; more numeric parts are refused', () => {
    const ok: readonly (readonly [string, readonly number[]])[] = [
      ['6.18', [6, 18, 0]],
      ['6.18.44', [6, 18, 44]],
      ['6.18.44-fc-v1045', [6, 18, 44]],
      ['6.19-rc6', [6, 19, 0]],
      ['6.12.38+deb13-amd64', [6, 12, 38]],
      ['5.15.0-91-generic', [5, 15, 0]],
      ['5.15.153.1-microsoft-standard-WSL2', [5, 15, 153]],
    ];
    for (const [text, v] of ok) assert.deepEqual(parseKernelVersion(text), v, text);
    for (const text of ['6.18.44.7', '6', '6.', '6.18.', 'abc', '6.18 x', 'v6.18', '6.18.44.7.1']) {
      assert.throws(() => parseKernelVersion(text), /kernel version/, text);
    }
    assert.throws(() => parseKernelVersion('6.18.44.7'), /4 numeric parts/);
  });
});

describe('help at 80 columns', { concurrency: true }, () => {
  const help = (...args: string[]) => {
    const r = cliWithEnv({ COLUMNS: '80' }, ...args, '--help');
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const exampleLines = (examples: readonly Example[]) =>
    examples.flatMap(([c]) => (typeof c === 'string' ? [c] : [...c]));

  test('the top level: the exit codes, in an epilogue', () => {
    const h = help();
    assert.match(h.replace(/\n/g, ' '), /Exit codes: 0 ok; 1 a check failed .*; 2 bad input or usage/);
    assert.ok(h.split('\n').every((l) => l.length <= 80));
    assert.match(h, /^[\x20-\x7e\n]*$/);
  });

  for (const [name, mod] of Object.entries(commands)) {
    test(`sigframe ${name} --help: printable ASCII, 80 columns, every example whole on its line`, () => {
      const h = help(name);
      assert.match(h, /^[\x20-\x7e\n]*$/, 'printable ASCII');
      for (const l of h.split('\n')) assert.ok(l.length <= 80, `longer than 80 columns: ${l}`);
      const lines = h.split('\n');
      const examples = (mod as { examples: readonly Example[] }).examples;
      assert.ok(examples.length > 0, `${name} has examples`);
      for (const e of exampleLines(examples)) {
        assert.ok(e.length <= EXAMPLE_WIDTH, `example line longer than ${EXAMPLE_WIDTH}: ${e}`);
        assert.ok(lines.includes(`  ${e}`), `example split or missing: ${e}`);
      }
    });
  }

  test('examples name files that exist from the repo root, and those that only read them work', {
    timeout: 120_000,
  }, () => {
    for (const [name, mod] of Object.entries(commands)) {
      for (const [c] of (mod as { examples: readonly Example[] }).examples) {
        const text = (typeof c === 'string' ? [c] : [...c]).map((l) => l.replace(/\s*\\$/, '')).join(' ');
        for (const path of text.match(/test\/fixtures\/\S+/g) ?? []) {
          assert.ok(existsSync(join(root, path)), `${name}: ${path} does not exist`);
        }
        // Runnable here: reads committed fixtures only, writes nothing, one command.
        if (!/test\/fixtures/.test(text) || /[|>&]|--out|--html|--svg|--save/.test(text)) continue;
        const args = text.split(/\s+/).slice(1);
        const r = cli(...args);
        assert.ok(r.code === 0 || r.code === 1, `${text}: exit ${r.code}\n${r.stderr}`);
      }
    }
  });
});
