import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { XFEATURE } from '../layouts/xfeatures.js';
import { loadFrame } from '../src/io/frames.js';
import { builtinProfileNames, loadBuiltinProfile } from '../src/io/profiles.js';
import { eraFor } from '../src/kernel/eras.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { bitsOf, FIRST_EXTENDED_XFEATURE, maskOf } from '../src/xsave/catalog.js';
import { xsaveLayout, xstateSize } from '../src/xsave/layout.js';
import { tilecfgInvalid } from '../src/xsave/restore.js';
import { fixture } from './support/helpers.js';

const profile = (name: string) => loadBuiltinProfile(name);
/** Standard offset of component `nr` in the layout of everything the CPU supports. */
const at = (name: string, nr: number) => {
  const e = profile(name).xsave;
  return xsaveLayout(e, e.xcr0Supported, 'standard').regions.find((r) => r.nr === nr);
};

describe('standard format', () => {
  test('Intel and AMD place AVX-512 and PKRU differently (Intel keeps the MPX area)', () => {
    assert.deepEqual(
      [5, 6, 7, 9].map((n) => at('intel-sapphire-rapids', n)?.offset),
      [1088, 1152, 1664, 2688],
    );
    assert.deepEqual(
      [5, 6, 7, 9].map((n) => at('amd-zen4-genoa', n)?.offset),
      [832, 896, 1408, 2432],
    );
    // Alder Lake: no AVX-512, yet PKRU sits at 2688 — after the unused AVX-512 area.
    assert.equal(at('intel-alder-lake', 9)?.offset, 2688);
  });

  test('regions come in address order, not component order (APX at 960)', () => {
    const p = profile('intel-apx-synthetic');
    const l = xsaveLayout(p.xsave, maskOf([0, 1, 2, 5, 6, 7, 19]), 'standard');
    const order = l.regions
      .filter((r) => typeof r.nr === 'number' && r.nr >= FIRST_EXTENDED_XFEATURE)
      .map((r) => r.nr);
    assert.deepEqual(order, [2, 19, 5, 6, 7]);
    assert.equal(l.size, 2688);
    // The size ends at the highest offset, not the highest number: APX alone ends at 1088.
    assert.equal(xstateSize(p.xsave, maskOf([0, 1, 2, 19]), 'standard'), 1088);
  });

  test('FP/SSE only: the legacy region plus header', () => {
    assert.equal(xstateSize(profile('intel-haswell-ep').xsave, 0b11n, 'standard'), 576);
  });
});

describe('compacted format', () => {
  test('packed in component order with 64-byte alignment where CPUID asks for it', () => {
    const l = xsaveLayout(profile('intel-sapphire-rapids').xsave, 0x602e7n, 'compacted');
    const of = (nr: number) => l.regions.find((r) => r.nr === nr);
    assert.deepEqual(
      [of(2)?.offset, of(5)?.offset, of(6)?.offset, of(7)?.offset, of(9)?.offset],
      [576, 832, 896, 1408, 2432],
    );
    assert.deepEqual([of(17)?.offset, of(17)?.aligned, of(18)?.offset], [2496, true, 2560]);
    assert.equal(l.size, 10752);
  });

  test('APX (19) comes after AMX in compacted form although it precedes it in standard form', () => {
    const l = xsaveLayout(profile('intel-apx-synthetic').xsave, 0xe02e7n, 'compacted');
    assert.deepEqual(
      l.regions
        .filter((r) => typeof r.nr === 'number' && r.nr >= XFEATURE.XTILE_CFG)
        .map((r) => [r.nr, r.offset]),
      [
        [17, 2496],
        [18, 2560],
        [19, 10752],
      ],
    );
  });

  test('supervisor components have no standard offset', () => {
    assert.throws(
      () => xsaveLayout(profile('intel-sapphire-rapids').xsave, 0x402e7n | (1n << 15n), 'standard'),
      /15 \(LBR\) has no standard-format offset/,
    );
  });
});

describe('layout properties over every shipped profile and any sub-mask of what Linux enables', () => {
  const masks = builtinProfileNames().map((name) => {
    const p = profile(name);
    const k = kernelXfeatures(p.cpuid, p.xsave, eraFor('7.3'), { bits: 64 });
    return { name, p, bits: bitsOf(k.xcr0).filter((n) => n >= 2) };
  });
  const arbitrary = fc
    .constantFrom(...masks)
    .chain((m) => fc.subarray(m.bits).map((sub) => ({ ...m, mask: maskOf([0, 1, ...sub]) })));

  test('standard layouts never overlap and end at the last region', () => {
    fc.assert(
      fc.property(arbitrary, ({ p, mask }) => {
        const l = xsaveLayout(p.xsave, mask, 'standard');
        const sorted = [...l.regions].sort((a, b) => a.offset - b.offset);
        for (let i = 1; i < sorted.length; i++) {
          assert.ok(
            sorted[i]!.offset >= sorted[i - 1]!.offset + sorted[i - 1]!.size,
            `overlap at ${sorted[i]!.offset}`,
          );
        }
        assert.equal(l.size, Math.max(...l.regions.map((r) => r.offset + r.size)));
      }),
    );
  });

  test('compacted offsets respect alignment and never exceed the standard size', () => {
    fc.assert(
      fc.property(arbitrary, ({ p, mask }) => {
        const compacted = xsaveLayout(p.xsave, mask, 'compacted');
        for (const r of compacted.regions) {
          if (r.aligned) assert.equal(r.offset % 64, 0, `component ${String(r.nr)} at ${r.offset}`);
        }
        assert.ok(compacted.size <= xstateSize(p.xsave, mask, 'standard'));
      }),
    );
  });
});

describe('TILECFG as XRSTOR takes it', () => {
  // The configuration LDTILECFG took in the Intel guest's capture: palette 1, eight 16 × 64 tiles.
  const captured = loadFrame(fixture('frames', 'intel-xeon-amx', 'x86_64-amx-tiles.json')).capture!.info
    .patterns.tilecfg!;
  const edit = (f: (b: Uint8Array) => void) => {
    const b = Uint8Array.from(captured);
    f(b);
    return tilecfgInvalid(b);
  };
  test('a configuration the CPU loaded, and palette 0 (INIT), are valid', () => {
    assert.equal(tilecfgInvalid(captured), undefined);
    assert.equal(tilecfgInvalid(new Uint8Array(64)), undefined);
  });
  test('what LDTILECFG refuses is invalid, and says why', () => {
    assert.match(edit((b) => (b[0] = 0x69)) ?? '', /palette 105/);
    assert.match(edit((b) => (b[5] = 1)) ?? '', /reserved bytes/);
    assert.match(edit((b) => (b[48 + 8] = 1)) ?? '', /tile 8 is configured/);
    assert.match(edit((b) => (b[48] = 17)) ?? '', /tile 0 has 17 rows/);
    assert.match(edit((b) => (b[16] = 65)) ?? '', /tile 0 has 16 rows of 65 bytes/);
    assert.match(edit((b) => (b[48 + 3] = 0)) ?? '', /tile 3 has 0 rows of 64 bytes/);
  });
});
