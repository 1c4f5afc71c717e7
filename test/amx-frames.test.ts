import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XFEATURE_MASK } from '../layouts/xfeatures.js';
import { buildFrame } from '../src/frame/build.js';
import { decodeFrame } from '../src/frame/decode.js';
import { leValue } from '../src/frame/registers.js';
import { frameTarget } from '../src/frame/target.js';
import { loadFrame } from '../src/io/frames.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { fixture, sprState } from './support/helpers.js';

describe('AMX frames (Sapphire Rapids profile, Linux 6.18)', () => {
  const profile = loadBuiltinProfile('intel-sapphire-rapids');
  const kernel = chooseKernel('6.18');
  const base = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json')).decoded.state;
  const build = (amx: 'none' | 'used', tiles: boolean) => {
    const state = sprState(base, amx, tiles);
    const t = frameTarget('x86_64', profile, kernel, { bits: 64 }, amx);
    return { state, t, b: buildFrame(state, t) };
  };

  test('without AMX use the frame has no tile region: 3336 bytes below a page-aligned top', () => {
    const { b } = build('none', false);
    assert.equal(b.top % 4096n, 0n);
    assert.equal(b.top - b.address, 3336n);
    assert.equal(b.rfbm & XFEATURE_MASK.XTILE_DATA, 0n);
  });

  test('after AMX use with tiles in INIT: 8 KiB reserved but unwritten, XSTATE_BV bits clear', () => {
    const { b } = build('used', false);
    const buf = Number(b.placement.bufFx - b.address);
    assert.equal(b.xstateBv & XFEATURE_MASK.XTILE, 0n);
    assert.ok(
      b.written.subarray(buf + 2816, buf + 2816 + 8192).every((x) => x === 0),
      'TILEDATA unwritten',
    );
    assert.ok(
      b.written.subarray(buf + 2752, buf + 2816).every((x) => x === 0),
      'TILECFG unwritten',
    );
    assert.equal(
      new DataView(b.bytes.buffer).getUint32(buf + 11008, true),
      0x46505845,
      'MAGIC2 after the tiles',
    );
  });

  test('tiles in use: written and read back', () => {
    const { state, t, b } = build('used', true);
    assert.equal(b.xstateBv & XFEATURE_MASK.XTILE, XFEATURE_MASK.XTILE);
    const d = decodeFrame({
      memory: { address: b.address, bytes: b.bytes },
      kind: 'x86_64',
      profile,
      kernel: t.kernel,
      config: t.config,
      amx: 'used',
      delivery: state.delivery,
    });
    assert.equal(d.registers?.tmm?.[3], leValue(new Uint8Array(1024).fill(4)));
    assert.equal(d.registers?.tilecfg?.palette_id, 1);
    assert.equal(d.verdict.verdict, 'full');
    // The same frame given back to a task without AMX use is too big for it: fx-only.
    const none = decodeFrame({
      memory: { address: b.address, bytes: b.bytes },
      kind: 'x86_64',
      profile,
      kernel: t.kernel,
      config: t.config,
      amx: 'none',
    });
    assert.equal(none.verdict.verdict, 'fx-only');
    // 6.18.0 has the refined check (magic1, then MAGIC2 at the task's user_size); 6.18.35 the full one.
    assert.match(none.verdict.reason, /MAGIC2 at fpstate \+ the task's user_size/);
    const full = decodeFrame({
      memory: { address: b.address, bytes: b.bytes },
      kind: 'x86_64',
      profile,
      kernel: chooseKernel('6.18.35'),
      config: t.config,
      amx: 'none',
    });
    assert.match(full.verdict.reason, /xstate_size 11008 > the task's user_size 2816/);
  });
});
