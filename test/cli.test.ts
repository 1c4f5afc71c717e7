import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { XFEATURE } from '../layouts/xfeatures.js';
import { cli, cliWithEnv, fixture, hostSkipReason, root } from './support/helpers.js';

const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const noTrace = (r: { stderr: string }) => assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

describe('sigframe layout --struct', () => {
  test('JSON: name, size, align and fields with offset and size', () => {
    const r = cli('layout', '--struct', 'sigcontext_64', '--abi', 'x86_64', '--json');
    assert.equal(r.code, 0);
    const s = json(r);
    assert.deepEqual([s.name, s.size, s.align, s.abi, s.model], ['sigcontext_64', 256, 8, 'x86_64', 'lp64']);
    assert.deepEqual(
      s.fields.find((f: { name: string }) => f.name === 'fpstate'),
      { name: 'fpstate', offset: 184, size: 8, type: '__u64' },
    );
  });

  test('per ABI: user structs follow the program, kernel-internal ones the kernel', () => {
    assert.deepEqual(
      [json(cli('layout', '--struct', '_fpstate_32', '--abi', 'ia32', '--json'))].map((s) => [
        s.size,
        s.align,
        s.model,
      ]),
      [[624, 4, 'ilp32']],
    );
    const uc = json(cli('layout', '--struct', 'ucontext_ia32', '--abi', 'ia32', '--json'));
    assert.deepEqual([uc.size, uc.model], [116, 'lp64']);
    const nested = json(cli('layout', '--struct', 'ucontext', '--json'));
    assert.equal(nested.fields.find((f: { name: string }) => f.name === 'uc_mcontext').fields.length, 28);
  });

  test('a struct outside the ABI, or unknown, is bad input (exit 2)', () => {
    const r = cli('layout', '--struct', 'ucontext', '--abi', 'ia32');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /struct ucontext is not part of ia32 signal frames/);
    const u = cli('layout', '--struct', 'nope');
    assert.equal(u.code, 2);
    assert.match(u.stderr, /unknown struct 'nope'; known: _fpx_sw_bytes, _fpstate_64/);
    noTrace(u);
  });

  test('--c-asserts prints checks a C compiler can run', () => {
    const r = cli('layout', '--struct', 'sigcontext_32', '--abi', 'ia32', '--c-asserts');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /_Static_assert\(offsetof\(struct sigcontext_32, fpstate\) == 76,/);
  });
});

describe('sigframe layout (XSAVE)', () => {
  test('standard and compacted, with the Linux XCR0 of the profile', () => {
    const std = json(cli('layout', '--profile', 'intel-sapphire-rapids', '--json'));
    assert.deepEqual([std.format, std.mask, std.size], ['standard', '0x602e7', 11008]);
    assert.deepEqual(std.regions.at(-1), {
      nr: 18,
      name: 'XTILE_DATA',
      offset: 2816,
      end: 11008,
      size: 8192,
    });
    const cmp = json(cli('layout', '--profile', 'intel-sapphire-rapids', '--format', 'compacted', '--json'));
    assert.equal(cmp.size, 10752);
    const old = json(cli('layout', '--profile', 'intel-sapphire-rapids', '--kernel', '5.15', '--json'));
    assert.deepEqual([old.mask, old.size], ['0x2e7', 2696]);
  });

  test('a mask, a raw dump as profile, and their errors', () => {
    assert.equal(json(cli('layout', '--profile', 'amd-zen4-genoa', '--mask', '0x7', '--json')).size, 832);
    const bad = cli('layout', '--profile', 'amd-zen4-genoa', '--mask', '0xzz');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--mask: '0xzz' is not a feature mask/);
    const dump = fixture('cpuid', 'AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt');
    assert.equal(json(cli('layout', '--profile', dump, '--json')).size, 2440);
    const incomplete = cli('layout', '--profile', fixture('cpuid', 'GenuineIntel00506C9_Goldmont_CPUID.txt'));
    assert.equal(incomplete.code, 2);
    assert.match(
      incomplete.stderr,
      /cannot lay out 3 \(BNDREGS\), 4 \(BNDCSR\): the CPUID input has no subleaf for it/,
    );
    noTrace(incomplete);
  });
});

describe('sigframe cpuid', () => {
  test('a dump: components, findings, and what Linux enables', () => {
    const r = cli(
      'cpuid',
      '--input',
      fixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt'),
      '--json',
    );
    assert.equal(r.code, 0);
    const c = json(r);
    assert.equal(c.xcr0_supported, '0x602e7');
    assert.equal(c.linux.xcr0, '0x602e7');
    assert.equal(
      c.components.find((x: { nr: number }) => x.nr === XFEATURE.XTILE_DATA).dmesg,
      'AMX Tile data',
    );
    assert.equal(c.components.length, 15);
  });

  test('an incomplete dump is shown with a warning; an inconsistent one is bad input', () => {
    const goldmont = cli('cpuid', '--input', fixture('cpuid', 'GenuineIntel00506C9_Goldmont_CPUID.txt'));
    assert.equal(goldmont.code, 0);
    assert.match(
      goldmont.stdout,
      /warning: incomplete dump: components 3 \(BNDREGS\), 4 \(BNDCSR\), 8 \(PT\)/,
    );
    assert.match(goldmont.stdout, /sizes unknown: cannot lay out 3 \(BNDREGS\)/);
    const cascade = cli('cpuid', '--input', fixture('cpuid', 'GenuineIntel0050656_CascadeLakeSP_CPUID.txt'));
    assert.equal(cascade.code, 2);
    assert.match(
      cascade.stderr,
      /inconsistent CPUID input.*CPUID\.\(0xD,9\) PKRU: supported but its size \(EAX\) is 0/,
    );
  });

  test('malformed and missing input files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    writeFileSync(join(dir, 'bad.txt'), 'CPUID 00000000: 00000010-68747541\n');
    const bad = cli('cpuid', '--input', join(dir, 'bad.txt'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad\.txt:1: expected "CPUID LLLLLLLL: EAX-EBX-ECX-EDX \[SL nn\]"/);
    const missing = cli('cpuid', '--input', join(dir, 'absent.txt'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /unknown profile '.*absent\.txt': not a shipped profile/);
    noTrace(bad);
  });

  test('the host: the model matches the kernel (exit 0)', { skip: hostSkipReason() }, () => {
    const r = cli('cpuid', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).host.model_matches, true);
  });
});

describe('sigframe profiles', () => {
  test('lists every shipped profile with its Linux XCR0 and sizes', () => {
    const r = cli('profiles', '--json');
    assert.equal(r.code, 0, r.stderr);
    const rows = json(r).profiles as { name: string; linux: { xcr0: string; max_size: number } }[];
    assert.ok(rows.length >= 9);
    assert.deepEqual(
      rows.filter((p) => p.name === 'intel-cascade-lake').map((p) => [p.linux.xcr0, p.linux.max_size]),
      [['0x2ff', 2696]],
    );
  });

  test('--from-dump writes a profile that loads back', () => {
    const r = cli(
      'profiles',
      '--from-dump',
      fixture('cpuid', 'host-kvm-intel-xeon-amx.cpuid-r.txt'),
      '--name',
      'my-box',
    );
    assert.equal(r.code, 0);
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const file = join(dir, 'my-box.json');
    writeFileSync(file, r.stdout);
    const layout = json(cli('layout', '--profile', file, '--json'));
    assert.deepEqual([layout.profile, layout.size], ['my-box', 11008]);
  });
});

describe('a host without a C compiler', () => {
  test('the probe cannot be built: a clear message and exit 2, not a crash', () => {
    const cache = mkdtempSync(join(tmpdir(), 'sigframe-cache-'));
    const r = cliWithEnv({ PATH: '/nonexistent', CC: '', SIGFRAME_CACHE: cache }, 'cpuid');
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      assert.match(r.stderr, /needs an x86-64 Linux host/);
    } else {
      assert.match(
        r.stderr,
        /no C compiler found \(tried cc, gcc, clang\): sigframe compiles a small helper \(native\/probe\.c\)/,
      );
    }
    assert.equal(r.code, 2);
    noTrace(r);
  });
});

describe('usage', () => {
  test('no command, unknown options: exit 2 with a hint', () => {
    for (const args of [[], ['frobnicate'], ['layout', '--bogus']]) {
      const r = cli(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /Run 'sigframe --help' for usage/);
    }
  });
});

describe('the installed command: cli/bin.cjs running the bundle from its code cache', () => {
  const bin = join(root, 'cli', 'bin.cjs');
  const bundle = join(root, 'dist', 'sigframe.cjs');
  const installed = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: tmpdir() });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const cacheFile = () => {
    const id = /^\/\/ sigframe build ([0-9a-f]{16})\n/.exec(readFileSync(bundle, 'utf8'))?.[1];
    assert.ok(id, 'the bundle names its build on its first line');
    return `${bundle}.${id}.v8-cache`;
  };

  test('answers as the source does, from any directory', () => {
    const args = ['size', '--profile', 'intel-sapphire-rapids', '--amx', 'used', '--json'];
    assert.deepEqual(json(installed(...args)), json(cli(...args)));
    const v = installed('--version');
    assert.deepEqual(
      [v.code, v.stdout.trim()],
      [0, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version],
    );
    const bad = installed('frobnicate');
    assert.equal(bad.code, 2);
    noTrace(bad);
  });

  test('every command that reads a file runs from the bundle as from the source (the bundle has no import())', () => {
    const capture = fixture('frames', 'x86_64-sigusr1-vectors.json');
    const dump = fixture('cpuid', readdirSync(fixture('cpuid')).find((f) => f.endsWith('.txt'))!);
    const runs = [
      ['decode', capture, '--json'],
      ['diff', capture, fixture('frames', 'x86_64-sigsegv-fault.json'), '--json'],
      ['convert', capture, '--to', 'intel-sapphire-rapids', '--json'],
      ['map', capture, '--json'],
      ['cpuid', '--cpuid-dump', dump, '--json'],
      ['size', '--cpuid-dump', dump, '--json'],
      ['core', fixture('cores', 'zen4-x86_64', 'core'), '--json'],
      ['gen', 'c', '--json'],
    ];
    for (const args of runs) {
      const a = installed(...args);
      const b = cli(...args);
      noTrace(a);
      assert.equal(a.code, b.code, `${args.join(' ')}: ${a.stderr}`);
      assert.deepEqual(json(a), json(b), args.join(' '));
    }
  });

  test('help is printable ASCII: other text makes string-width load ICU (~9 ms of cold start)', () => {
    for (const c of [
      '',
      'size',
      'capture',
      'decode',
      'build',
      'diff',
      'compat',
      'convert',
      'map',
      'cpuid',
      'layout',
      'profiles',
      'gen',
    ]) {
      const r = installed(...(c ? [c, '--help'] : ['--help']));
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, /^[\x20-\x7e\n]*$/, `sigframe ${c} --help`);
    }
  });

  test('a cache V8 rejects (damaged, or from another Node) is replaced, and the command still works', () => {
    const file = cacheFile();
    writeFileSync(file, Buffer.alloc(4096, 0x5a));
    const r = installed('size', '--profile', 'amd-zen4-genoa', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).profile, 'amd-zen4-genoa');
    const rewritten = readFileSync(file);
    assert.ok(rewritten.length > 10_000 && rewritten.some((b) => b !== 0x5a), 'the cache was written anew');
  });
});

describe('sigframe size', () => {
  test('--all --profiles DIR: every file in DIR, each sized as the same CPU is in --all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-fleet-'));
    const shipped = join(root, 'layouts', 'profiles');
    writeFileSync(join(dir, 'a-spr.json'), readFileSync(join(shipped, 'intel-sapphire-rapids.json')));
    writeFileSync(join(dir, 'b-spr-again.json'), readFileSync(join(shipped, 'intel-sapphire-rapids.json')));
    const dump = readdirSync(fixture('cpuid')).find((f) => f.endsWith('.txt'))!;
    writeFileSync(join(dir, 'c-genoa.txt'), readFileSync(fixture('cpuid', dump)));
    writeFileSync(join(dir, '.hidden'), 'not read');
    const r = cli('size', '--all', '--profiles', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const rows = json(r).rows as { profile: string; era: string; amx: string }[];
    const all = json(cli('size', '--all', '--json')).rows as typeof rows;
    const figures = (xs: typeof rows, name: string) =>
      xs.filter((x) => x.profile === name).map(({ profile: _, ...rest }) => rest);
    const spr = figures(all, 'intel-sapphire-rapids');
    assert.ok(spr.length > 0);
    const names = [...new Set(rows.map((x) => x.profile))];
    assert.equal(names.length, 3, names.join());
    assert.deepEqual(figures(rows, names[0]!), spr);
    assert.deepEqual(figures(rows, names[1]!), spr);
    // The Genoa dump sizes as the shipped Genoa profile does.
    assert.deepEqual(figures(rows, names[2]!), figures(all, 'amd-zen4-genoa'));

    writeFileSync(join(dir, 'd-bad.json'), '{"format": "sigframe-profile/1"}');
    const bad = cli('size', '--all', '--profiles', dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /d-bad\.json/);
    noTrace(bad);
    const empty = cli('size', '--all', '--profiles', mkdtempSync(join(tmpdir(), 'sigframe-empty-')));
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /no profile or CPUID dump files/);
    const alone = cli('size', '--profiles', dir);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /add --all/);
    const file = cli('size', '--all', '--profiles', join(dir, 'a-spr.json'));
    assert.equal(file.code, 2);
    assert.match(file.stderr, /not a directory/);
  });

  test('the host by default: the model beside the kernel’s AT_MINSIGSTKSZ, exit 0', {
    skip: hostSkipReason(),
  }, () => {
    const r = cli('size', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = json(r);
    assert.deepEqual([j.profile, j.origin], ['host', 'host']);
    assert.equal(j.live.applies, true);
    assert.equal(j.live.matches, true);
    assert.equal(j.live.at_minsigstksz, j.at_minsigstksz);
    for (const key of ['max_size', 'default_size', 'user_size', 'min_altstack', 'min_altstack_worst'])
      assert.equal(typeof j[key], 'number', key);
    for (const key of ['bytes_below_top', 'bytes_below_worst_top'])
      assert.equal(typeof j.frame[key], 'number', `frame.${key}`);
    // Whatever this CPU: delivery needs the frame to fit and sigaltstack() to accept the size.
    assert.equal(j.min_altstack, Math.max(j.frame.bytes_below_top + 1, j.sigaltstack.min_accepted));
    assert.equal(j.sigaltstack.min_accepted, 2048);
    // The host's glibc is the row the headline uses.
    const glibc = j.libc[j.libc_selected.index];
    assert.equal(glibc.libc, 'glibc');
    assert.equal(glibc.sc_sigstksz, Math.max(4 * Math.max(glibc.sc_minsigstksz, 2048), 8192));
    const all = [...j.hazards, ...j.states.flatMap((s: { hazards: unknown[] }) => s.hazards)];
    assert.ok(!all.some((h: { message: string }) => /sigframe bug/.test(h.message)));
    const text = cli('size');
    assert.match(text.stdout, /AT_MINSIGSTKSZ \d+ {3}round_up\(736 \+ 15 \+ \d+ \+ 63, 16\)/);
    assert.match(text.stdout, /— matches/);
  });

  test('--measure: every measurement of the running kernel and C libraries agrees (exit 0)', {
    skip: hostSkipReason(),
  }, () => {
    const r = cli('size', '--measure', '--json');
    assert.equal(r.code, 0, r.stderr);
    const checks = json(r).measured as { what: string; ok: boolean }[];
    assert.ok(checks.length > 50);
    assert.ok(checks.every((c) => c.ok));
    assert.ok(
      checks.some((c) => /^glibc \d/.test(c.what)),
      'the glibc experiment ran',
    );
  });

  test('options that describe another system model it, say why nothing is compared, and exit 0', {
    skip: hostSkipReason(),
  }, () => {
    for (const args of [
      ['--kernel', '5.10'],
      ['--ia32-emulation', 'off'],
      ['--kernel-bits', '32', '--abi', 'ia32'],
    ]) {
      const r = cli('size', ...args, '--json');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      const j = json(r);
      assert.equal(j.live.applies, false, args.join(' '));
      assert.match(j.live.why, /this models another system/);
      const m = cli('size', ...args, '--measure');
      assert.equal(m.code, 2, args.join(' '));
      assert.match(m.stderr, /--measure runs experiments on the running system, but/);
    }
    // The running kernel's own version is the running kernel.
    const release = json(cli('size', '--json')).live.kernel as string;
    const same = json(cli('size', '--kernel', release.split('-')[0]!, '--json'));
    assert.equal(same.live.applies, true);
  });

  test('a profile file is a recording, whatever its name: shown as provenance, never compared', () => {
    // test/fixtures/frames/host-profile.json is named "host": the capture machine's CPUID.
    const file = fixture('frames', 'host-profile.json');
    const r = cli('size', '--profile', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = json(r);
    assert.deepEqual([j.profile, j.origin, j.live], ['host', 'file', null]);
    assert.equal(j.recorded.kernel, '6.18.44-fc-v669');
    assert.equal(j.recorded.at_minsigstksz, 3376);
    assert.match(
      cli('size', '--profile', file).stdout,
      /recorded on Linux 6\.18\.44-fc-v669: AT_MINSIGSTKSZ 3376/,
    );
    const c = cli('cpuid', '--input', file, '--json');
    assert.equal(c.code, 0, c.stderr);
    assert.equal(json(c).host, undefined);
    const m = cli('size', '--profile', file, '--measure');
    assert.equal(m.code, 2);
    assert.match(m.stderr, /host-profile\.json is a file profile|is a file profile/);
  });

  test('a profile with AMX: each state, what to allocate, and the hazards', () => {
    const r = cli('size', '--profile', 'intel-sapphire-rapids', '--amx', 'used', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = json(r);
    assert.deepEqual(
      j.states.map(
        (s: {
          amx: string;
          frame: { bytes_below_top: number };
          min_altstack: number;
          allocate: { minimum: number };
        }) => [s.amx, s.frame.bytes_below_top, s.min_altstack, s.allocate.minimum],
      ),
      [
        ['none', 3336, 3337, 3340],
        // With permission the frame is as small as before, but sigaltstack() takes nothing under 11837.
        ['permitted', 3336, 11837, 11837],
        ['used', 11528, 11837, 11837],
      ],
    );
    assert.deepEqual([j.amx, j.user_size, j.user_xfeatures], ['used', 11008, '0x602e7']);
    const text = cli('size', '--profile', 'intel-sapphire-rapids', '--amx', 'permitted').stdout;
    assert.match(text, /Allocate at least 11837 bytes \(AMX permitted\)/);
    assert.match(text, /SIGSTKSZ \(8192\) is 3645 bytes short of the 11837 this thread needs/);
    assert.match(
      text,
      /sigaltstack\(\) refuses an alt stack of SIGSTKSZ \(8192\) bytes with ENOMEM: it accepts nothing under 11837/,
    );
    assert.match(
      text,
      /ARCH_REQ_XCOMP_PERM fails with ENOSPC while any thread has an alt stack of 2048–11951 bytes/,
    );
  });

  test('--cpuid-dump, --kernel, --ia32-emulation and --abi', () => {
    const dump = fixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt');
    const at = (...a: string[]) => json(cli('size', '--cpuid-dump', dump, '--json', ...a)).at_minsigstksz;
    assert.equal(at(), 11952);
    assert.equal(at('--ia32-emulation', 'off'), 11536);
    assert.equal(at('--kernel', '5.10'), null);
    // This AIDA64 dump reports PKRU with size 0: refused, not sized.
    const bad = cli('size', '--cpuid-dump', fixture('cpuid', 'GenuineIntel0050656_CascadeLakeSP_CPUID.txt'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /inconsistent CPUID input.*PKRU: supported but its size \(EAX\) is 0/);
    const ia32 = json(cli('size', '--profile', 'amd-epyc-zen4-kvm', '--abi', 'ia32', '--json'));
    assert.equal(ia32.live, null, 'a shipped profile is never compared with this machine');
    assert.deepEqual([ia32.frame.struct, ia32.frame.bytes_below_top], ['sigframe_ia32', 3348]);
  });

  test('--all: every profile × era × AMX state, quickly', () => {
    const r = cli('size', '--all', '--json');
    assert.equal(r.code, 0, r.stderr);
    type Row = { profile: string; era: string; amx: string; at_minsigstksz: number | null };
    const rows = json(r).rows as Row[];
    assert.ok(rows.length >= 70);
    const spr = rows.filter((x) => x.profile === 'intel-sapphire-rapids' && x.era === '6.16 and later');
    assert.deepEqual(
      spr.map((x) => [x.amx, x.at_minsigstksz]),
      [
        ['none', 11952],
        ['permitted', 11952],
        ['used', 11952],
      ],
    );
  });

  test('impossible targets are bad input: exit 2 with the reason', () => {
    const cases: [string[], RegExp][] = [
      [['--profile', 'amd-zen4-genoa', '--amx', 'used'], /no dynamic feature.*EOPNOTSUPP/],
      [['--profile', 'intel-sapphire-rapids', '--abi', 'ia32', '--amx', 'used'], /only in 64-bit mode/],
      [['--profile', 'intel-sapphire-rapids', '--kernel-bits', '32'], /i386 kernel runs only ia32/],
      [
        ['--profile', 'intel-sapphire-rapids', '--kernel-bits', '32', '--abi', 'ia32', '--amx', 'permitted'],
        /i386 kernels never enable AMX/,
      ],
      [
        ['--profile', 'intel-sapphire-rapids', '--abi', 'ia32-rt', '--ia32-emulation', 'off'],
        /need IA32_EMULATION/,
      ],
      [['--profile', 'intel-sapphire-rapids', '--top-align', '48'], /power of two/],
      [['--profile', 'no-such-cpu'], /unknown profile 'no-such-cpu'/],
      [['--profile', 'intel-sapphire-rapids', '--kernel', '3.10'], /older than the oldest modelled era/],
      [['--profile', 'intel-sapphire-rapids', '--abi', 'arm64'], /Invalid values/],
      [['--profile', 'intel-sapphire-rapids', '--measure'], /--measure runs experiments on this machine/],
    ];
    for (const [args, re] of cases) {
      const r = cli('size', ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      noTrace(r);
    }
  });
});

describe('sigframe decode / build / diff / capture', () => {
  const cap = fixture('frames', 'x86_64-sigsegv-fault.json');

  test('decode a capture: registers as "0x…", XSTATE_BV, the verdict', () => {
    const r = cli('decode', cap, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = json(r);
    assert.equal(j.verdict.verdict, 'full');
    assert.deepEqual(j.written, ['FP', 'SSE', 'YMM', 'OPMASK', 'ZMM_Hi256', 'Hi16_ZMM']);
    assert.match(j.registers.zmm[31], /^0x[0-9a-f]+$/);
    assert.equal(j.state.frame.uc.uc_mcontext.cr2, '0x10');
    assert.equal(j.state.format, 'sigframe-state/1');
    const text = cli('decode', cap).stdout;
    assert.match(text, /rt_sigreturn: FULL/);
    assert.match(text, /cr2\s+0x10/);
  });

  test('decode → build reproduces the capture byte for byte where the kernel wrote; diff finds nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const stateFile = join(dir, 'state.json');
    writeFileSync(stateFile, cli('decode', cap, '--json').stdout);
    const out = join(dir, 'frame.bin');
    const b = cli('build', stateFile, '--out', out, '--json');
    assert.equal(b.code, 0, b.stderr);
    const built = readFileSync(out);
    const original = readFileSync(fixture('frames', 'x86_64-sigsegv-fault.bin'));
    const info = JSON.parse(readFileSync(cap, 'utf8'));
    assert.deepEqual(json(b).unwritten, info.unwritten, 'the same bytes left alone');
    const skip = new Set<number>();
    for (const [a, c] of info.unwritten as [number, number][]) for (let i = a; i < c; i++) skip.add(i);
    for (let i = 0; i < original.length; i++)
      if (!skip.has(i)) assert.equal(built[i], original[i], `byte ${i}`);
    const d = cli('diff', stateFile, cap);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /no differences/);
  });

  test('diff of two different frames lists the fields and exits 1', () => {
    const r = cli(
      'diff',
      fixture('frames', 'x86_64-sigusr1-vectors.json'),
      fixture('frames', 'x86_64-sigusr1-avx-init.json'),
      '--json',
    );
    assert.equal(r.code, 1);
    const paths = (json(r).differences as { path: string }[]).map((x) => x.path);
    assert.ok(paths.includes('state.fpu.xstate_bv'));
    assert.ok(paths.some((p) => p.startsWith('state.fpu.components.ZMM_Hi256')));
  });

  test('raw bytes with --address and --ucontext/--top; bad input is exit 2 with the offset', () => {
    const bin = fixture('frames', 'x86_64-sigusr1-vectors.bin');
    const info = JSON.parse(readFileSync(fixture('frames', 'x86_64-sigusr1-vectors.json'), 'utf8'));
    const prof = fixture('frames', 'host-profile.json');
    const base = ['--address', info.address, '--profile', prof, '--kernel', '6.18', '--json'];
    const byUc = json(
      cli('decode', bin, ...base, '--ucontext', `0x${(BigInt(info.address) + 8n).toString(16)}`),
    );
    const byTop = json(cli('decode', bin, ...base, '--top', info.top));
    assert.equal(byUc.frame, info.address);
    assert.equal(byTop.frame, info.address);
    const noAddr = cli('decode', bin);
    assert.equal(noAddr.code, 2);
    assert.match(noAddr.stderr, /need --address/);
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const cut = join(dir, 'cut.bin');
    writeFileSync(cut, readFileSync(bin).subarray(0, 200));
    const short = cli('decode', cut, '--address', info.address, '--profile', prof, '--kernel', '6.18');
    assert.equal(short.code, 2);
    assert.match(short.stderr, /uc\.uc_mcontext\.\w+: input ends at byte 200/);
    const bad = cli('decode', bin, '--address', 'zz', '--profile', prof);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--address: zz is not an address/);
    for (const r of [noAddr, short, bad]) noTrace(r);
  });

  test('build refuses a state whose frame would not fit the alt stack', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const state = json(cli('decode', cap, '--json')).state;
    state.delivery.altstack.size = '0x800';
    state.delivery.altstack.sp = `0x${(BigInt(json(cli('decode', cap, '--json')).state.delivery.altstack.sp) + 0xf000n - 0x800n).toString(16)}`;
    const f = join(dir, 's.json');
    writeFileSync(f, JSON.stringify({ state }));
    const r = cli('build', f);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /would not deliver this signal.*SIGSEGV/);
  });

  test('capture on this host writes frames that decode', { skip: hostSkipReason() }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-cap-'));
    const r = cli('capture', '--out', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const names = json(r).scenarios as string[];
    assert.ok(names.includes('x86_64-sigusr1-vectors'));
    const d = cli('decode', join(dir, 'x86_64-sigusr1-vectors.json'), '--json');
    assert.equal(json(d).verdict.verdict, 'full');
  });
});

describe('sigframe sigreturn', () => {
  const dir = fixture('sigreturn', 'amd-epyc-zen4');
  test('a saved run: every edit agrees, per frame kind; exit 0', () => {
    const r = cli('sigreturn', dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /x86_64\s+75\s+75\s+0/);
    assert.match(r.stdout, /all 224 agree/);
    const j = json(cli('sigreturn', dir, '--json'));
    assert.equal(j.checks.length, 224);
    assert.equal(j.release, '6.18.44-fc-v1045');
  });
  test('an outcome the model does not predict: listed, exit 1; not a run: exit 2', () => {
    const run = JSON.parse(readFileSync(join(dir, 'x86_64.json'), 'utf8'));
    const edit = run.results.find((r: { edit: string }) => r.edit === 'cs_zero');
    Object.assign(edit, { phase: 'sigreturn', trapno: 0 });
    const out = mkdtempSync(join(tmpdir(), 'sigframe-sigreturn-'));
    writeFileSync(join(out, 'x86_64.json'), JSON.stringify(run));
    const r = cli('sigreturn', join(out, 'x86_64.json'), '--profile', join(dir, 'host-profile.json'));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /cs_zero .*sigsegv in rt_sigreturn .*sigsegv on return #GP/);
    assert.match(r.stdout, /1 DISAGREE/);
    const bad = cli('sigreturn', join(dir, 'host-profile.json'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown member/);
    noTrace(bad);
  });
});

describe('sigframe compat / convert', () => {
  test('Intel AVX-512 frames on AMD: one verdict — fx-only, not also an XRSTOR fault; images: moved components', () => {
    const r = cli('compat', '--from', 'intel-cascade-lake', '--to', 'amd-zen4-genoa', '--json');
    assert.equal(r.code, 1);
    const j = json(r);
    assert.equal(j.compatible, false);
    // The frame is bigger than the AMD task's xstate: check_xstate_in_sigframe() sends it fx-only,
    // so XRSTOR never reads (or faults on) its components — the decode verdict, nothing else.
    const frame = j.findings.filter((f: { scope: string }) => f.scope !== 'process');
    assert.deepEqual(
      frame.map((f: { code: string }) => f.code),
      ['fx-only'],
    );
    assert.match(frame[0].message, /xstate_size 2696 > the task's user_size 2440/);
    const zmm = j.components.find((c: { name: string }) => c.name === 'ZMM_Hi256');
    assert.deepEqual([zmm.from.offset, zmm.to.offset, zmm.restore], [1152, 896, 'init']);
    // The same registers as a bare XSAVE image: XRSTOR reads the moved component's bytes.
    const img = json(
      cli(
        'compat',
        '--from',
        'intel-cascade-lake',
        '--to',
        'amd-zen4-genoa',
        '--what',
        'xsave-image',
        '--json',
      ),
    );
    const zmmImg = img.components.find((c: { name: string }) => c.name === 'ZMM_Hi256');
    assert.equal(zmmImg.restore, 'garbage');
    assert.ok(img.findings.some((f: { code: string }) => f.code === 'moved'));
  });

  test('the frame verdict follows --kernel: a smaller frame under the 2025 check_xstate_in_sigframe()', () => {
    const at = (kernel: string) =>
      json(
        cli(
          'compat',
          '--from',
          'qemu-epyc-milan-avx2',
          '--to',
          'amd-epyc-zen4-kvm',
          '--kernel',
          kernel,
          '--json',
        ),
      );
    const fixed = at('6.18.44');
    assert.equal(fixed.compatible, true);
    assert.ok(
      fixed.findings.some(
        (f: { code: string; level: string }) => f.code === 'magic2' && f.level === 'hazard',
      ),
    );
    const refined = at('6.18.20');
    assert.equal(refined.compatible, false);
    assert.match(
      refined.findings.find((f: { code: string }) => f.code === 'fx-only').message,
      /MAGIC2 at fpstate \+ the task's user_size/,
    );
  });

  test('same CPU family: compatible, exit 0; checkpoints name the glibc and AMX hazards', () => {
    assert.equal(cli('compat', '--from', 'amd-zen4-genoa', '--to', 'amd-zen4-raphael').code, 0);
    const r = json(
      cli(
        'compat',
        '--from',
        'intel-cascade-lake',
        '--to',
        'intel-sapphire-rapids',
        '--what',
        'checkpoint',
        '--json',
      ),
    );
    assert.ok(r.findings.some((f: { code: string }) => f.code === 'glibc'));
    const back = json(
      cli(
        'compat',
        '--from',
        'intel-sapphire-rapids',
        '--to',
        'intel-cascade-lake',
        '--what',
        'checkpoint',
        '--json',
      ),
    );
    assert.ok(
      back.findings.some((f: { code: string; level: string }) => f.code === 'amx' && f.level === 'hazard'),
    );
  });

  test('an inconsistent CPUID dump is bad input for compat as for size (exit 2)', () => {
    const bad = fixture('cpuid', 'GenuineIntel0050656_CascadeLakeSP_CPUID.txt');
    const r = cli('compat', '--from', bad, '--to', 'amd-zen4-genoa');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /inconsistent CPUID input.*PKRU: supported but its size \(EAX\) is 0/);
    noTrace(r);
  });

  test('--matrix over the shipped profiles', () => {
    const r = cli('compat', '--matrix', '--json');
    assert.equal(r.code, 0);
    const cells = json(r).cells as { from: string; to: string; compatible: boolean; codes: string[] }[];
    assert.ok(
      cells.filter((c) => c.from === c.to).every((c) => c.compatible),
      'reflexive',
    );
    const ia = cells.find((c) => c.from === 'intel-cascade-lake' && c.to === 'amd-zen4-genoa')!;
    assert.deepEqual(ia.codes, ['fx-only']);
    const images = json(cli('compat', '--matrix', '--what', 'xsave-image', '--json')).cells as typeof cells;
    assert.ok(
      images
        .find((c) => c.from === 'intel-cascade-lake' && c.to === 'amd-zen4-genoa')!
        .codes.includes('moved'),
    );
    assert.match(cli('compat', '--matrix').stdout, /moved: a component sits at another offset/);
  });

  test('convert a real AMD frame for an Intel CPU and back: the registers survive', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const src = fixture('frames', 'x86_64-sigusr1-vectors.json');
    const there = cli(
      'convert',
      src,
      '--to',
      'intel-sapphire-rapids',
      '--out',
      join(dir, 'spr.bin'),
      '--json',
    );
    assert.equal(there.code, 0, there.stderr);
    const onSpr = json(cli('decode', join(dir, 'spr.bin.json'), '--json'));
    const orig = json(cli('decode', src, '--json'));
    assert.deepEqual(onSpr.registers.zmm, orig.registers.zmm);
    assert.deepEqual(onSpr.registers.k, orig.registers.k);
    assert.equal(onSpr.sw_reserved.xstate_size, 2816);
    const refused = cli('convert', src, '--to', 'intel-haswell-ep');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /cannot hold OPMASK, ZMM_Hi256, Hi16_ZMM, which the state has in use/);
  });

  test('convert a raw XSAVE image between layouts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-'));
    const bin = readFileSync(fixture('frames', 'x86_64-sigusr1-vectors.bin'));
    const image = join(dir, 'img.bin');
    writeFileSync(image, bin.subarray(456, 456 + 2432));
    const out = join(dir, 'intel.bin');
    const r = cli(
      'convert',
      image,
      '--image',
      '--from',
      fixture('frames', 'host-profile.json'),
      '--to',
      'intel-cascade-lake',
      '--out',
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    const moved = readFileSync(out);
    assert.equal(moved.length, 2696);
    assert.deepEqual(
      moved.subarray(1152, 1152 + 512),
      bin.subarray(456 + 896, 456 + 896 + 512),
      'ZMM_Hi256 moved from 896 to 1152',
    );
  });
});

describe('decode: foreign frames', () => {
  const frames = (...p: string[]) => fixture('frames', ...p);
  const infoOf = (name: string) => JSON.parse(readFileSync(frames(`${name}.json`), 'utf8'));
  const avx512 = infoOf('x86_64-sigusr1-vectors');
  const bin = frames('x86_64-sigusr1-vectors.bin');

  test('the AVX-512 frame with an AVX2 profile: exit 2 naming sw_reserved.xfeatures and xstate_size; --force decodes', () => {
    for (const extra of [[], ['--top', avx512.top]]) {
      const r = cli(
        'decode',
        bin,
        '--address',
        avx512.address,
        '--profile',
        'qemu-epyc-milan-avx2',
        ...extra,
      );
      assert.equal(r.code, 2, r.stdout);
      if (extra.length === 0) {
        assert.match(r.stderr, /sw_reserved\.xfeatures at byte \d+: 0xe7, expected 0x7/);
        assert.match(r.stderr, /sw_reserved\.xstate_size at byte \d+: 2432, expected 832/);
      } else {
        assert.match(r.stderr, /uc\.uc_mcontext\.fpstate at byte \d+/);
        assert.match(r.stderr, /says sw_reserved\.xfeatures 0xe7, xstate_size 2432/);
      }
      assert.match(r.stderr, /It fits amd-epyc-zen4-kvm x86_64 .*drop --profile.*--force/);
      noTrace(r);
    }
    const forced = cli(
      'decode',
      bin,
      '--address',
      avx512.address,
      '--profile',
      'qemu-epyc-milan-avx2',
      '--force',
      '--json',
    );
    assert.equal(forced.code, 0, forced.stderr);
    const j = json(forced);
    assert.equal(j.layout.source, 'profile');
    assert.match(j.layout.why, /--force/);
    assert.ok(j.findings.some((f: { field: string }) => f.field === 'sw_reserved.xstate_size'));
  });

  test('without --profile, the frame is read with the layout it fits, and the output says which', () => {
    const want = json(cli('decode', frames('x86_64-sigusr1-vectors.json'), '--json'));
    for (const extra of [[], ['--top', avx512.top]]) {
      const r = cli('decode', bin, '--address', avx512.address, ...extra, '--json');
      assert.equal(r.code, 0, r.stderr);
      const j = json(r);
      assert.deepEqual(Object.keys(j.layout).sort(), [
        'amx',
        'candidates',
        'kind',
        'profile',
        'source',
        'why',
      ]);
      // The host's layout when this machine writes such frames, else the shipped profile that does.
      assert.ok(j.layout.source === 'host' || j.layout.profile === 'amd-epyc-zen4-kvm', j.layout.why);
      assert.equal(j.frame, avx512.address);
      assert.deepEqual(j.registers, want.registers);
      assert.equal(j.verdict.verdict, 'full');
      assert.deepEqual(j.findings, []);
    }
    // The AVX2 capture: no AVX-512 machine writes it, so it is inferred there.
    const a = infoOf('avx2/x86_64-sigusr1-vectors');
    const wantAvx2 = json(cli('decode', frames('avx2', 'x86_64-sigusr1-vectors.json'), '--json'));
    const r = cli(
      'decode',
      frames('avx2', 'x86_64-sigusr1-vectors.bin'),
      '--address',
      a.address,
      '--top',
      a.top,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = json(r);
    assert.equal(j.frame, a.address);
    assert.equal(j.sw_reserved.xstate_size, 832);
    assert.deepEqual(j.registers.ymm, wantAvx2.registers.ymm);
    if (j.layout.source === 'inferred') {
      assert.equal(j.layout.profile, 'intel-broadwell-u', 'the first by name of the equivalent AVX2 layouts');
      assert.deepEqual(
        j.layout.candidates.map((c: { profile: string }) => c.profile),
        ['intel-haswell-ep', 'qemu-epyc-milan-avx2'],
      );
    }
    const text = cli('decode', frames('avx2', 'x86_64-sigusr1-vectors.bin'), '--address', a.address);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^layout: (host|inferred) — /m);
  });

  test('an ia32 frame without --abi is recognised as ia32', () => {
    for (const [name, kind] of [
      ['ia32-rt-sigusr1', 'ia32-rt'],
      ['ia32-legacy-sigusr1', 'ia32'],
      ['avx2/ia32-rt-sigusr1', 'ia32-rt'],
    ]) {
      const info = infoOf(name!);
      for (const extra of [[], ['--top', info.top]]) {
        const r = cli('decode', frames(`${name}.bin`), '--address', info.address, ...extra, '--json');
        assert.equal(r.code, 0, `${name}: ${r.stderr}`);
        const j = json(r);
        assert.equal(j.state.kind, kind, name);
        assert.equal(j.frame, info.address);
        assert.equal(j.layout.kind, kind);
        assert.match(j.layout.why, /not \S+ x86_64/);
      }
    }
  });

  test('a wrong --address: exit 2 naming the pointer that does not agree', () => {
    const wrong = `0x${(BigInt(avx512.address) - 0x40n).toString(16)}`;
    for (const extra of [[], ['--profile', 'amd-epyc-zen4-kvm']]) {
      const r = cli('decode', bin, '--address', wrong, ...extra);
      assert.equal(r.code, 2, r.stdout);
      assert.match(
        r.stderr,
        /uc\.uc_mcontext\.fpstate at byte \d+: 0x55e9ca400640, expected 0x[0-9a-f]+ \(the frame \+ \d+/,
      );
      noTrace(r);
    }
  });

  test('an ELF file is not a frame: use `sigframe core`', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-elf-'));
    const elf = join(dir, 'core');
    writeFileSync(elf, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(64)]));
    const r = cli('decode', elf, '--address', '0x1000');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /an ELF file: use `sigframe core /);
    noTrace(r);
  });
});
