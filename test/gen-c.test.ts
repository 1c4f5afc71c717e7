import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type FrameKindName, frameKinds } from '../layouts/frames.js';
import { kernelEras } from '../layouts/kernels.js';
import type { CpuidRecord } from '../src/cpuid/records.js';
import { cHeader } from '../src/gen/c.js';
import { cOverflowChecks, kernelVersionCode, kindNames } from '../src/gen/tables.js';
import { builtinProfileNames, loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { maxFrameSize } from '../src/kernel/signal.js';
import { systemTarget } from '../src/kernel/system.js';
import { type AmxState, amxStates } from '../src/kernel/task.js';
import type { KernelConfig } from '../src/kernel/xstate.js';
import { type Profile, profileFromFile } from '../src/profile/profile.js';
import { sizeReport } from '../src/report/size.js';
import { DEFAULT_TOP_ALIGN } from '../src/report/terms.js';
import { InputError } from '../src/schema/errors.js';
import { arbitraryProfile } from '../src/testing/profiles.js';
import { amxSkipReason, cli, hostSkipReason, root, targetSkipReason } from './support/helpers.js';

/**
 * sigframe.h against the TypeScript model it is generated from, case by case through a small C
 * driver (test/c/sizes_for.c), and against the running kernel (test/c/sizes_now.c).
 */

const dir = mkdtempSync(join(tmpdir(), 'sigframe-gen-c-'));
writeFileSync(join(dir, 'sigframe.h'), cHeader());
const STRICT = ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic'];

function have(cmd: string): boolean {
  // go has no --version: `go version`.
  const r = spawnSync(cmd, [cmd === 'go' ? 'version' : '--version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/** Compiles a driver; the reason it cannot be, for a skip. */
function build(compiler: string, flag: string, source: string, out: string): string | undefined {
  if (!have(compiler)) return `${compiler} is not installed`;
  if (flag !== '-m64') {
    const why = targetSkipReason(flag);
    if (why) return why;
  }
  const r = spawnSync(compiler, [flag, ...STRICT, '-I', dir, join(root, 'test', 'c', source), '-o', out], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `${compiler} ${flag} ${source}: ${r.stderr}`);
  return undefined;
}

const cc = process.env.CC ?? 'cc';
const compilers = [
  { compiler: cc, flag: '-m64' },
  { compiler: cc, flag: '-m32' },
  { compiler: 'clang', flag: '-m64' },
  { compiler: 'clang', flag: '-m32' },
];

interface Case {
  readonly profile: Profile;
  /** undefined: the newest era (kernel_version 0). */
  readonly version: string | undefined;
  readonly config: Required<KernelConfig>;
  readonly kind: FrameKindName;
  readonly amx: AmxState;
}

const flagsOf = (c: Case) =>
  kindNames.indexOf(c.kind) |
  (amxStates.indexOf(c.amx) << 4) |
  (c.config.bits === 32 ? 1 << 8 : 0) |
  (c.config.ia32Emulation ? 0 : 1 << 9) |
  (c.config.strictSasSize ? 1 << 10 : 0);

function inputLine(c: Case): string {
  const records = c.profile.cpuid.records;
  const h = (v: number) => (v >>> 0).toString(16);
  return [
    h(flagsOf(c)),
    h(c.version === undefined ? 0 : kernelVersionCode(c.version)),
    String(records.length),
    ...records.map((r) => [r.leaf, r.subleaf, r.eax, r.ebx, r.ecx, r.edx].map(h).join(' ')),
  ].join(' ');
}

const EINVAL = -22;
const EOPNOTSUPP = -95;

/** The line the driver must print for a case: the TypeScript model's numbers, or its refusal. */
function expectedLine(c: Case): string {
  const kernel = chooseKernel(c.version);
  const target = { kind: c.kind, topAlign: DEFAULT_TOP_ALIGN, config: c.config };
  let r: ReturnType<typeof sizeReport>;
  try {
    r = sizeReport(c.profile, kernel, target, c.amx);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return String(e.message.startsWith('--amx') ? EOPNOTSUPP : EINVAL);
  }
  const { k } = systemTarget(c.profile, kernel, c.config);
  const used = r.states.find((s) => s.amx === 'used');
  const flags =
    flagsOf(c) |
    (r.at_minsigstksz === null ? 1 << 17 : 0) |
    (r.xsave ? 1 << 18 : 0) |
    (k.fxsr ? 1 << 19 : 0) |
    (used ? 1 << 20 : 0);
  return [
    0,
    flags.toString(16),
    (c.version === undefined ? 0 : kernelVersionCode(c.version)).toString(16),
    r.era.replace(/–/g, '-'),
    r.xcr0.toString(16),
    r.max_size,
    r.default_size,
    r.user_size,
    used?.user_size ?? 0,
    r.at_minsigstksz ?? maxFrameSize(k, c.config),
    r.frame.bytes_below_top,
    r.frame.bytes_below_worst_top,
    r.min_altstack,
    r.min_altstack_worst,
    used?.min_altstack ?? 0,
    r.sigaltstack.min_accepted,
    r.allocate.minimum,
    cOverflowChecks.indexOf(r.overflow_check),
  ].join(' ');
}

function runDriver(bin: string, cases: readonly Case[]): string[] {
  const r = spawnSync(bin, [], { input: `${cases.map(inputLine).join('\n')}\n`, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trimEnd().split('\n');
}

function compare(bin: string, cases: readonly Case[]): void {
  const got = runDriver(bin, cases);
  assert.equal(got.length, cases.length);
  cases.forEach((c, i) => {
    assert.equal(
      got[i],
      expectedLine(c),
      `${c.profile.name}, kernel ${c.version ?? 'newest'}, ${JSON.stringify(c.config)}, ${c.kind}, AMX ${c.amx}`,
    );
  });
}

const configs: Required<KernelConfig>[] = [
  { bits: 64, ia32Emulation: true, strictSasSize: false },
  { bits: 64, ia32Emulation: false, strictSasSize: false },
  { bits: 64, ia32Emulation: true, strictSasSize: true },
  { bits: 32, ia32Emulation: false, strictSasSize: false },
];

function matrix(): Case[] {
  const out: Case[] = [];
  for (const name of builtinProfileNames()) {
    const profile = loadBuiltinProfile(name);
    for (const version of [...kernelEras.map((e) => e.since), undefined])
      for (const config of configs)
        for (const kind of kindNames)
          for (const amx of amxStates) out.push({ profile, version, config, kind, amx });
  }
  return out;
}

describe('sigframe.h: the generated C header', () => {
  for (const { compiler, flag } of compilers) {
    const bin = join(dir, `sizes_for-${compiler.replace(/\W/g, '')}${flag}`);
    const skip = build(compiler, flag, 'sizes_for.c', bin);
    test(`${compiler} ${flag} ${STRICT.join(' ')}: sigframe_sizes_for() equals the model on every shipped profile × era × configuration × frame kind × AMX state`, {
      skip,
    }, () => {
      const cases = matrix();
      compare(bin, cases);
      const lines = runDriver(bin, cases);
      // The matrix holds answers and both refusals, so each path of the header is compared.
      assert.ok(lines.filter((l) => l.startsWith('0 ')).length > 1000);
      assert.ok(lines.includes(String(EOPNOTSUPP)));
      assert.ok(lines.includes(String(EINVAL)));
    });
  }

  test('-mx32: the header and the driver build (this kernel may not run x32 programs)', {
    skip: targetSkipReason('-mx32'),
  }, () => {
    const bin = join(dir, 'sizes_for-x32');
    assert.equal(build(cc, '-mx32', 'sizes_for.c', bin), undefined);
    const now = join(dir, 'sizes_now-x32');
    assert.equal(build(cc, '-mx32', 'sizes_now.c', now), undefined);
  });

  test('random consistent CPUs, kernel versions and states give the model’s numbers (fast-check)', () => {
    const bin = join(dir, 'sizes_for-prop');
    const skip = build(cc, '-m64', 'sizes_for.c', bin);
    if (skip) return assert.fail(skip);
    const arbitraryCase: fc.Arbitrary<Case> = fc.record({
      profile: arbitraryProfile(),
      version: fc.oneof(
        fc.constant(undefined),
        fc
          .tuple(
            fc.constantFrom(4, 5, 6, 7),
            fc.integer({ min: 0, max: 30 }),
            fc.integer({ min: 0, max: 300 }),
          )
          .map(([a, b, c]) => `${a}.${b}.${c}`),
      ),
      config: fc.constantFrom(...configs),
      kind: fc.constantFrom(...kindNames),
      amx: fc.constantFrom(...amxStates),
    });
    // One driver run per batch: the property is that every case of it agrees.
    fc.assert(
      fc.property(fc.array(arbitraryCase, { minLength: 1, maxLength: 40 }), (cases) => {
        const usable = cases.filter((c) => c.version === undefined || !/^4\.[0-5]\./.test(c.version));
        if (usable.length === 0) return;
        compare(bin, usable);
      }),
      { numRuns: 25, seed: 16 },
    );
  });

  test('sigframe_parse_kernel_version() reads uname -r strings as the TypeScript parser does', () => {
    const bin = join(dir, 'parse_version');
    const skip = build(cc, '-m64', 'parse_version.c', bin);
    if (skip) return assert.fail(skip);
    const good = [
      '6.18.44-fc-v1045',
      '6.19-rc6',
      '6.12.38+deb13-amd64',
      '5.15.153.1-microsoft-standard-WSL2',
      '4.6',
    ];
    const bad = ['', 'x', '6', '-6.1', '6.x'];
    const r = spawnSync(bin, [...good, ...bad], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      ...good.map((g) => kernelVersionCode(g).toString(16)),
      ...bad.map(() => String(EINVAL)),
    ]);
  });

  test('a kernel before the first era, unknown flags and CPUID the consistency gate refuses give -EINVAL, as the model refuses them', () => {
    const bin = join(dir, 'sizes_for-refusals');
    const skip = build(cc, '-m64', 'sizes_for.c', bin);
    if (skip) return assert.fail(skip);
    const profile = loadBuiltinProfile('intel-sapphire-rapids');
    const base = { profile, version: '6.18', config: configs[0]!, kind: 'x86_64', amx: 'none' } as const;
    type Rec = CpuidRecord;
    const at = (leaf: number, subleaf: number) => (r: Rec) => r.leaf === leaf && r.subleaf === subleaf;
    const sub = (nr: number) => profile.cpuid.get(0xd, nr)!;
    // One of the kernel's sanity rules broken per profile (src/profile/checks.ts, enumeration.ts).
    const mutations: [string, (r: Rec) => boolean, (r: Rec) => Rec][] = [
      ['YMM beyond the reported size', at(0xd, 2), (r) => ({ ...r, ebx: 0xfffffff0 })],
      ['YMM of size 0', at(0xd, 2), (r) => ({ ...r, eax: 0 })],
      ['YMM inside the legacy region', at(0xd, 2), (r) => ({ ...r, ebx: 100 })],
      ['YMM not its architectural size', at(0xd, 2), (r) => ({ ...r, eax: 255 })],
      ['YMM flagged as supervisor state', at(0xd, 2), (r) => ({ ...r, ecx: r.ecx | 1 })],
      ['OPMASK overlapping YMM', at(0xd, 5), (r) => ({ ...r, ebx: sub(2).ebx })],
      ['EBX above ECX', at(0xd, 0), (r) => ({ ...r, ebx: r.ecx + 64 })],
      ['ECX not what the subleaves make', at(0xd, 0), (r) => ({ ...r, ecx: r.ecx + 64 })],
      ['EBX the size of no XCR0', at(0xd, 0), (r) => ({ ...r, ebx: 600 })],
    ];
    const mutated = mutations.map(([what, which, edit]) => {
      const cpuid = profile.cpuid.records.map((r) => (which(r) ? edit(r) : r));
      const file = { ...profile.file, cpuid, supplements: [], capture: undefined };
      return { what, c: { ...base, profile: profileFromFile(file) } };
    });
    // The same profile rebuilt unchanged is accepted by both: each refusal is the mutation's.
    const control = {
      ...base,
      profile: profileFromFile({
        ...profile.file,
        cpuid: [...profile.cpuid.records],
        supplements: [],
        capture: undefined,
      }),
    };
    assert.match(expectedLine(control), /^0 /);
    compare(bin, [control]);
    const lines = [
      inputLine({ ...base, version: '4.5' }),
      inputLine(base).replace(/^\w+/, '800'),
      ...mutated.map((m) => inputLine(m.c)),
    ];
    const r = spawnSync(bin, [], { input: `${lines.join('\n')}\n`, encoding: 'utf8' });
    const got = r.stdout.trimEnd().split('\n');
    assert.deepEqual(got.slice(0, 2), [String(EINVAL), String(EINVAL)]);
    mutated.forEach((m, i) => {
      assert.equal(expectedLine(m.c), String(EINVAL), `the model refuses: ${m.what}`);
      assert.equal(got[2 + i], String(EINVAL), `sigframe.h refuses: ${m.what}`);
    });
  });
});

describe('sigframe.h on this machine: sigframe_sizes_now() against sigframe size and the kernel', () => {
  const hostSkip = hostSkipReason();
  for (const flag of ['-m64', '-m32']) {
    const bin = join(dir, `sizes_now${flag}`);
    const skip = hostSkip ?? build(cc, flag, 'sizes_now.c', bin);
    const abi = flag === '-m64' ? 'x86_64' : 'ia32';
    // Where the CPU offers AMX, the 64-bit driver also runs after ARCH_REQ_XCOMP_PERM and after a tile instruction.
    for (const amx of flag === '-m64' ? (['none', 'permitted', 'used'] as const) : (['none'] as const))
      test(`${flag}${amx === 'none' ? '' : `, AMX ${amx}`}: the numbers of \`sigframe size --abi ${abi}${amx === 'none' ? '' : ` --amx ${amx}`}\`, and the kernel delivers on min_altstack bytes, not on one less`, {
        skip: skip ?? (amx === 'none' ? undefined : amxSkipReason()),
      }, () => {
        const r = spawnSync(bin, amx === 'none' ? [] : [amx], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr || r.stdout);
        const now = JSON.parse(r.stdout);
        assert.equal(now.rc, 0, `sigframe_sizes_now() returned ${now.rc}`);
        const size = cli('size', '--abi', abi, ...(amx === 'none' ? [] : ['--amx', amx]), '--json');
        assert.equal(size.code, 0, size.stderr);
        const report = JSON.parse(size.stdout);
        assert.deepEqual(
          {
            xcr0: now.xcr0,
            max_size: now.max_size,
            user_size: now.user_size,
            at_minsigstksz: now.at_minsigstksz,
            frame_size: now.frame_size,
            frame_size_any_top: now.frame_size_any_top,
            min_altstack: now.min_altstack,
            min_altstack_any_top: now.min_altstack_any_top,
            sigaltstack_min: now.sigaltstack_min,
            allocate: now.allocate,
            era: now.era,
          },
          {
            xcr0: report.xcr0,
            max_size: report.max_size,
            user_size: report.user_size,
            at_minsigstksz: report.at_minsigstksz,
            frame_size: report.frame.bytes_below_top,
            frame_size_any_top: report.frame.bytes_below_worst_top,
            min_altstack: report.min_altstack,
            min_altstack_any_top: report.min_altstack_worst,
            sigaltstack_min: report.sigaltstack.min_accepted,
            allocate: report.allocate.minimum,
            era: report.era.replace(/–/g, '-'),
          },
        );
        // The aux vector's value, which the header checked its model against (SIGFRAME_AT_FROM_KERNEL).
        assert.ok(now.flags & (1 << 16));
        // The kernel itself: delivered on min_altstack (plain and SA_SIGINFO handler), not on one less.
        assert.deepEqual(now.at_min, { check: 0, kernel: 0, kernel_siginfo: 0 });
        if (now.min_altstack - 1 >= now.sigaltstack_min)
          assert.deepEqual(now.one_less, { check: 2, kernel: 2 });
      });
  }

  test('sigframe_check_altstack() at every top residue: the kernel delivers on the size it passes, not on one byte less; the largest is min_altstack_any_top, as `size --measure` bounds it', {
    skip: hostSkip ?? build(cc, '-m64', 'sizes_now.c', join(dir, 'sizes_now-measure')),
  }, () => {
    const now = JSON.parse(spawnSync(join(dir, 'sizes_now-measure'), [], { encoding: 'utf8' }).stdout);
    assert.equal(now.residues_agree, 64);
    assert.equal(now.worst_top_size, now.min_altstack_any_top);
    const m = cli('size', '--measure', '--json');
    assert.equal(m.code, 0, m.stderr);
    const delivered = (JSON.parse(m.stdout).measured as { what: string; kernel: number }[]).filter((c) =>
      /^x86_64 frame, top ≡ \d+ \(mod 64\): smallest ss_size delivered$/.test(c.what),
    );
    assert.ok(delivered.length > 0, 'size --measure measured x86_64 deliveries');
    assert.equal(now.min_altstack, delivered.find((c) => c.what.includes('top ≡ 0 '))!.kernel);
    for (const c of delivered) assert.ok(c.kernel <= now.min_altstack_any_top, c.what);
  });
});

describe('sigframe gen c', () => {
  test('writes sigframe.h into --out, creating the folder; the header is the library’s', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'sigframe-gen-')), 'include', 'x');
    const r = cli('gen', 'c', '--out', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.file, join(out, 'sigframe.h'));
    assert.equal(readFileSync(j.file, 'utf8'), cHeader());
    assert.equal(j.bytes, Buffer.byteLength(cHeader()));
    assert.ok(j.functions.includes('sigframe_sizes_now'));
    const stdout = cli('gen', 'c');
    assert.equal(stdout.code, 0);
    assert.equal(`${stdout.stdout.trimEnd()}\n`, cHeader());
  });

  test('bad usage exits 2 with one line', () => {
    for (const args of [['gen', 'java'], ['gen'], ['gen', 'c', '--out', '/proc/nope']]) {
      const r = cli(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });

  test('every frame kind of layouts/frames.ts has its enum constant, in table order', () => {
    const h = cHeader();
    kindNames.forEach((k, i) => {
      assert.match(h, new RegExp(`SIGFRAME_KIND_${k.toUpperCase().replace('-', '_')} = ${i},`));
      assert.ok(frameKinds[k]);
    });
  });
});

/** The code blocks of README's "Using it from C, Rust, Go" section, by language. */
function readmeBlocks(): Record<string, string[]> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## Using it from C, Rust, Go');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const out: Record<string, string[]> = {};
  for (const m of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    out[m[1]!] = [...(out[m[1]!] ?? []), m[2]!];
  }
  return out;
}

describe('README: using sigframe.h from C, Rust and Go', () => {
  const blocks = readmeBlocks();
  const hostSkip = hostSkipReason();
  const nowDir = mkdtempSync(join(tmpdir(), 'sigframe-readme-c-'));
  const nowBin = join(nowDir, 'now');
  const nowSkip = hostSkip ?? build(cc, '-m64', 'sizes_now.c', nowBin);
  const now = () => JSON.parse(spawnSync(nowBin, [], { encoding: 'utf8' }).stdout);

  test('the C example builds with the README’s command and allocates `allocate` + its handler’s use', {
    skip: nowSkip,
  }, () => {
    const work = mkdtempSync(join(tmpdir(), 'sigframe-example-'));
    writeFileSync(join(work, 'example.c'), blocks.c![0]!);
    const command = blocks.sh![0]!.trim().replace('npx sigframe', `node ${join(root, 'cli', 'bin.cjs')}`);
    const r = spawnSync('sh', ['-c', command], { cwd: work, encoding: 'utf8' });
    assert.equal(r.status, 0, `${command}: ${r.stderr}`);
    const s = now();
    assert.equal(
      r.stdout.trim().split('\n').at(-1),
      `alt stack ${s.allocate + 16384} bytes (kernel's part ${s.allocate}, AT_MINSIGSTKSZ ${s.at_minsigstksz})`,
    );
  });

  const ffiLibrary = (work: string) => {
    writeFileSync(join(work, 'sigframe.h'), cHeader());
    writeFileSync(join(work, 'sigframe.c'), '#define SIGFRAME_API\n#include "sigframe.h"\n');
    for (const [cmd, ...args] of [
      [cc, '-std=c99', '-c', '-fPIC', 'sigframe.c', '-o', 'sigframe.o'],
      ['ar', 'rcs', 'libsigframe.a', 'sigframe.o'],
    ] as const) {
      const r = spawnSync(cmd, args, { cwd: work, encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
    }
  };

  test('the Rust program calls sigframe_sizes_now() through extern "C"', {
    skip: nowSkip ?? (have('rustc') ? undefined : 'rustc is not installed'),
  }, () => {
    const work = mkdtempSync(join(tmpdir(), 'sigframe-rust-'));
    ffiLibrary(work);
    writeFileSync(join(work, 'main.rs'), blocks.rust![0]!);
    const b = spawnSync('rustc', ['main.rs', '-L', '.', '-l', 'static=sigframe', '-o', 'main'], {
      cwd: work,
      encoding: 'utf8',
    });
    assert.equal(b.status, 0, b.stderr);
    const r = spawnSync(join(work, 'main'), [], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const s = now();
    assert.equal(r.stdout.trim(), `allocate ${s.allocate} min_altstack ${s.min_altstack}`);
  });

  test('the Go program calls sigframe_sizes_now() through cgo', {
    skip:
      nowSkip ?? (have('go') ? undefined : 'go is not installed (the cgo snippet is compiled where it is)'),
  }, () => {
    const work = mkdtempSync(join(tmpdir(), 'sigframe-go-'));
    const include = join(work, 'include');
    spawnSync('mkdir', ['-p', include]);
    writeFileSync(join(include, 'sigframe.h'), cHeader());
    writeFileSync(join(work, 'main.go'), blocks.go![0]!);
    writeFileSync(join(work, 'go.mod'), 'module sigframeexample\n\ngo 1.20\n');
    const r = spawnSync('go', ['run', '.'], {
      cwd: work,
      encoding: 'utf8',
      env: { ...process.env, CGO_ENABLED: '1', GOFLAGS: '-mod=mod' },
    });
    assert.equal(r.status, 0, r.stderr);
    const s = now();
    assert.equal(r.stdout.trim(), `allocate ${s.allocate} min_altstack ${s.min_altstack}`);
  });
});
