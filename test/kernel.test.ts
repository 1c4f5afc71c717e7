import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XFEATURE } from '../layouts/xfeatures.js';
import { Cpuid } from '../src/cpuid/records.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel, eraFor, parseKernelVersion } from '../src/kernel/eras.js';
import { type KernelConfig, kernelXfeatures } from '../src/kernel/xstate.js';
import type { Profile } from '../src/profile/profile.js';
import { readXsaveEnumeration } from '../src/xsave/enumeration.js';

const x64: KernelConfig = { bits: 64 };
const linux = (p: Profile, version: string, config = x64) =>
  kernelXfeatures(p.cpuid, p.xsave, eraFor(version), config);

/** A profile's CPUID with some register bits changed: cpuid-level what-ifs. */
function patched(
  p: Profile,
  leaf: number,
  subleaf: number,
  reg: 'eax' | 'ebx' | 'ecx' | 'edx',
  clear: number,
  set = 0,
) {
  const cpuid = new Cpuid(
    p.cpuid.records.map((r) =>
      r.leaf === leaf && r.subleaf === subleaf ? { ...r, [reg]: ((r[reg] & ~clear) | set) >>> 0 } : r,
    ),
  );
  return { cpuid, xsave: readXsaveEnumeration(cpuid) } as Profile;
}

describe('kernel versions and eras', () => {
  test('uname strings and short versions', () => {
    assert.deepEqual(parseKernelVersion('6.18.44-fc-v669'), [6, 18, 44]);
    assert.equal(eraFor('5.15.0-91-generic').id, '5.14');
    assert.equal(eraFor('6.12.5').id, '6.12');
    assert.equal(eraFor('7.3').id, '6.16');
    assert.equal(chooseKernel(undefined, undefined).label, 'Linux 6.16 and later');
    assert.throws(() => eraFor('3.10'), /older than the oldest modelled era \(4\.6\)/);
    assert.throws(() => parseKernelVersion('latest'), /expected MAJOR\.MINOR\[\.PATCH\]/);
  });
});

describe('XCR0 from CPUID, as fpu__init_system_xstate() computes it', () => {
  const spr = loadBuiltinProfile('intel-sapphire-rapids');

  test('Sapphire Rapids: AMX from 5.16 on, sized with and without TILEDATA', () => {
    const k = linux(spr, '6.18');
    assert.equal(k.xcr0, 0x602e7n);
    assert.deepEqual([k.maxSize, k.defaultSize, k.userDefault], [11008, 2816, 0x202e7n]);
    const old = linux(spr, '5.15');
    assert.equal(old.xcr0, 0x2e7n);
    assert.equal(old.maxSize, 2696);
    assert.deepEqual(
      old.dropped.map((d) => [d.nr, d.reason]),
      [
        [17, 'not in XFEATURE_MASK_USER_SUPPORTED of 5.14–5.15 kernels'],
        [18, 'not in XFEATURE_MASK_USER_SUPPORTED of 5.14–5.15 kernels'],
      ],
    );
  });

  test('an i386 kernel enables neither AMX nor PKRU', () => {
    const k = linux(spr, '6.18', { bits: 32 });
    assert.equal(k.xcr0, 0xe7n);
    assert.equal(k.maxSize, 2688);
    assert.match(
      k.dropped.find((d) => d.nr === XFEATURE.PKRU)!.reason,
      /32-bit kernel: CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS depends on X86_64/,
    );
  });

  test('without XFD the cpuid-deps pass clears AMX_TILE, so both AMX components go', () => {
    const k = linux(patched(spr, 0xd, 1, 'eax', 1 << 4), '6.18');
    assert.equal(k.xcr0, 0x2e7n);
    assert.deepEqual(
      k.dropped.map((d) => d.nr),
      [17, 18],
    );
    assert.match(k.dropped[0]!.reason, /CPUID flag amx_tile is clear \(after the kernel's cpuid-deps pass\)/);
  });

  test('PKRU needs PKU', () => {
    const k = linux(patched(spr, 7, 0, 'ecx', 1 << 3), '6.18');
    assert.equal(k.xcr0, 0x600e7n);
    assert.equal(k.maxSize, 11008, 'PKRU at 2688 lies below the AMX area, so the size stays');
  });

  test('APX from 6.16, and never together with MPX', () => {
    const apx = loadBuiltinProfile('intel-apx-synthetic');
    assert.equal(linux(apx, '6.15').xcr0, 0x602e7n);
    const k = linux(apx, '6.16');
    assert.equal(k.xcr0, 0xe02e7n);
    assert.equal(k.maxSize, 11008);
    const both = linux(patched(apx, 0xd, 0, 'eax', 0, 0b11000), '6.16');
    assert.equal(both.xsave, false);
    assert.match(both.xsaveDisabledBecause!, /both APX and MPX/);
  });

  test('no XSAVE: the kernel falls back to FXSAVE', () => {
    const k = linux(patched(loadBuiltinProfile('intel-haswell-ep'), 1, 0, 'ecx', 1 << 26), '6.18');
    assert.equal(k.xsave, false);
    assert.equal(k.xcr0, 0n);
  });

  test('MPX stays in XCR0 although the kernel dropped MPX support in 5.6', () => {
    assert.equal(linux(loadBuiltinProfile('intel-cascade-lake'), '6.18').xcr0, 0x2ffn);
  });
});
