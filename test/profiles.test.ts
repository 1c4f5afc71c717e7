import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { builtinProfileNames, loadBuiltinProfile } from '../src/io/profiles.js';
import { eraFor } from '../src/kernel/eras.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { sizeChecks } from '../src/profile/checks.js';
import { profileFromDump } from '../src/profile/dump.js';
import { formatProfile, profileFromJson } from '../src/profile/profile.js';
import { xsaveLayout } from '../src/xsave/layout.js';
import { readFixture } from './support/helpers.js';

describe('shipped profiles', () => {
  test('every profile validates and its own CPUID size fields agree with its subleaves', () => {
    const names = builtinProfileNames();
    assert.ok(names.length >= 9);
    for (const name of names) {
      const p = loadBuiltinProfile(name);
      assert.deepEqual(
        p.xsave.findings.filter((f) => f.level === 'error'),
        [],
        name,
      );
      const checks = sizeChecks(p);
      assert.ok(
        checks.some((c) => c.status === 'ok'),
        `${name}: nothing checked`,
      );
      for (const c of checks)
        assert.notEqual(
          c.status,
          'mismatch',
          `${name}: ${c.field} CPUID ${c.cpuid} vs computed ${c.computed}`,
        );
    }
  });

  test('the standard size of the capture-time XCR0 equals CPUID.(0xD,0).EBX, and ECX the size of all supported', () => {
    for (const name of builtinProfileNames()) {
      const checks = sizeChecks(loadBuiltinProfile(name));
      assert.equal(checks.find((c) => c.field === 'xsave_sz_max')?.status, 'ok', name);
      if (loadBuiltinProfile(name).file.capture)
        assert.equal(checks.find((c) => c.field === 'xsave_sz_xcr0')?.status, 'ok', name);
    }
  });

  // Published figures, each from a source independent of these profiles (../shared/reference/peers.md §4).
  const published: [string, bigint, number, number, Record<number, number>, string][] = [
    [
      'intel-cascade-lake',
      0x2ffn,
      2696,
      2696,
      { 3: 960, 4: 1024, 5: 1088, 6: 1152, 7: 1664, 9: 2688 },
      'rust-cpuid xeon_gold_6252; CRIU #2144',
    ],
    [
      'amd-zen4-genoa',
      0x2e7n,
      2440,
      2440,
      { 5: 832, 6: 896, 7: 1408, 9: 2432 },
      'GDB i387_guess_xsave_layout; Delve #3827; rr #3573',
    ],
    ['amd-zen4-raphael', 0x2e7n, 2440, 2440, { 5: 832, 9: 2432 }, 'rr #3573 (Ryzen 9 7950X: opmask at 832)'],
    [
      'intel-alder-lake',
      0x207n,
      2696,
      2696,
      { 9: 2688 },
      'rust-cpuid i7_12700k: PKRU 2688/8 without AVX-512',
    ],
    [
      'intel-sapphire-rapids',
      0x602e7n,
      11008,
      2816,
      { 17: 2752, 18: 2816 },
      'CRIU #1448/#2835, DynamoRIO #7983, qemu-devel 2022',
    ],
    ['intel-broadwell-u', 0x7n, 832, 832, { 2: 576 }, 'AVX-only XSAVE size 832 (peers.md §4.2)'],
    ['intel-haswell-ep', 0x7n, 832, 832, { 2: 576 }, 'AVX-only XSAVE size 832 (peers.md §4.2)'],
    ['amd-epyc-zen4-kvm', 0xe7n, 2432, 2432, { 7: 1408 }, 'kernel-signal-abi.md M6.18: XCR0 0xe7, 2432'],
    ['kvm-intel-xeon-amx', 0x600e7n, 11008, 2816, { 17: 2752, 18: 2816 }, 'measured on the development host'],
    [
      'intel-apx-synthetic',
      0xe02e7n,
      11008,
      2816,
      { 19: 960 },
      'APX series cover letter: EGPRs at 960, 128 bytes',
    ],
  ];
  for (const [name, xcr0, max, dflt, offsets, source] of published) {
    test(`${name}: XCR0 ${xcr0.toString(16)}, max_size ${max}, default_size ${dflt} (${source})`, () => {
      const p = loadBuiltinProfile(name);
      const k = kernelXfeatures(p.cpuid, p.xsave, eraFor('7.3'), { bits: 64 });
      assert.deepEqual([k.xcr0, k.maxSize, k.defaultSize], [xcr0, max, dflt]);
      const regions = xsaveLayout(p.xsave, k.xcr0, 'standard').regions;
      for (const [nr, offset] of Object.entries(offsets)) {
        assert.equal(regions.find((r) => r.nr === Number(nr))?.offset, offset, `component ${nr}`);
      }
    });
  }

  test('profiles that record what a live kernel reported agree with the model', () => {
    for (const name of builtinProfileNames()) {
      const p = loadBuiltinProfile(name);
      const observed = p.file.observed;
      if (observed?.xcomp_supp === undefined) continue;
      // ARCH_GET_XCOMP_SUPP returns fpu_user_cfg.max_features (| FP|SSE), i.e. what went into XCR0.
      assert.equal(
        kernelXfeatures(p.cpuid, p.xsave, eraFor(observed.kernel), { bits: 64 }).xcr0,
        observed.xcomp_supp,
        name,
      );
    }
  });

  test('the file format round-trips: format → parse gives the same profile', () => {
    for (const name of builtinProfileNames()) {
      const p = loadBuiltinProfile(name);
      const again = profileFromJson(JSON.parse(formatProfile(p.file)), name);
      assert.deepEqual(again.file, p.file, name);
    }
  });

  test('a raw dump becomes a profile that keeps only the leaves the kernel consults', () => {
    const p = profileFromDump(
      readFixture('cpuid', 'GenuineIntel0090672_AlderLake_02_CPUID.txt'),
      'GenuineIntel0090672_AlderLake_02_CPUID.txt',
    );
    assert.equal(p.name, 'genuineintel0090672-alderlake-02-cpuid');
    assert.deepEqual(
      [...new Set(p.cpuid.records.map((r) => r.leaf))],
      [0, 1, 7, 0xd, 0x80000000, 0x80000001, 0x80000002, 0x80000003, 0x80000004],
    );
    assert.equal(p.file.source.kind, 'aida64');
  });
});

describe('bad profile files', () => {
  const good = () => JSON.parse(formatProfile(loadBuiltinProfile('intel-haswell-ep').file));
  const fails = (mutate: (v: Record<string, unknown>) => void, message: RegExp) => {
    const v = good();
    mutate(v);
    assert.throws(() => profileFromJson(v, 'p.json'), message);
  };

  test('errors name the JSON path and what was expected', () => {
    fails(
      (v) => (v.format = 'sigframe-profile/9'),
      /p\.json: \$\.format: expected "sigframe-profile\/1", got "sigframe-profile\/9"/,
    );
    fails((v) => (v.colour = 'red'), /p\.json: \$\.colour: unknown member/);
    fails(
      (v) => ((v.cpuid as Record<string, unknown>[])[2]!.eax = '0xzz'),
      /\$\.cpuid\[2\]\.eax: expected a 32-bit value/,
    );
    fails((v) => (v.name = 'Has Spaces'), /\$\.name: 'Has Spaces' must be lower-case/);
    fails(
      (v) => (v.cpuid as unknown[]).push((v.cpuid as unknown[])[0]),
      /\$\.cpuid\[\d+\]: leaf 0x0 subleaf 0 is given twice/,
    );
    fails(
      (v) => (v.capture = { os: 'x', xcr0: 7, basis: 'b' }),
      /\$\.capture\.xcr0: expected a 64-bit value as a "0x…" string, got 7/,
    );
  });
});
