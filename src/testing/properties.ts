import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dataModels } from '../../layouts/abi.js';
import { frameKinds } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { convertState } from '../compat/convert.js';
import { type BuiltFrame, buildFrame, kernelFrameMembers } from '../frame/build.js';
import { decodeFrame } from '../frame/decode.js';
import type { SignalState } from '../frame/state.js';
import { type FrameTarget, frameTarget } from '../frame/target.js';
import { chooseKernel } from '../kernel/eras.js';
import { bytesBelowTop, maxFrameSize } from '../kernel/signal.js';
import { systemTarget } from '../kernel/system.js';
import { possibleAmxStates, taskFpu } from '../kernel/task.js';
import type { Profile } from '../profile/profile.js';
import { compat } from '../report/compat.js';
import { toJson } from '../schema/json.js';
import { locate } from '../schema/layout.js';
import { bit, bitsOf, FIRST_EXTENDED_XFEATURE, has } from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import { arbitraryProfile } from './profiles.js';
import { arbitraryState, arbitraryTarget } from './states.js';

/**
 * Layout-compatibility properties, each a fast-check property a test suite can run as it is
 * (`fc.assert(properties.decodeBuild())`) or with its own arbitraries. The frame code under test
 * defaults to sigframe's; pass your own `build` to hold it to the kernel's bytes.
 */

/** A frame writer under test: the bytes from the frame start to the top, like buildFrame(). */
export type FrameWriter = (state: SignalState, t: FrameTarget) => { address: bigint; bytes: Uint8Array };

const targetAndState = (targets = arbitraryTarget()) =>
  targets.chain((t) => arbitraryState(t).map((s) => ({ t, s })));

const same = (a: unknown, b: unknown, what: string) =>
  assert.deepEqual(JSON.parse(toJson(a)), JSON.parse(toJson(b)), what);

function decodeBuilt(b: BuiltFrame, s: SignalState, t: FrameTarget) {
  return decodeFrame({
    memory: { address: b.address, bytes: b.bytes },
    kind: t.kind,
    profile: t.profile,
    kernel: t.kernel,
    config: t.config,
    amx: t.amx,
    delivery: s.delivery,
  });
}

/** A frame struct's JSON form without the members the kernel never writes. */
function written(frame: unknown, t: FrameTarget): unknown {
  const json = JSON.parse(toJson(frame));
  for (const path of frameKinds[t.kind].kernelSkips) {
    const parts = path.split('.');
    let o = json;
    for (const p of parts.slice(0, -1)) o = o[p];
    delete o[parts.at(-1)!];
  }
  return json;
}

/** decode(build(s)) = s: every register, sigcontext field and component value comes back. */
export function decodeBuild(targets?: fc.Arbitrary<FrameTarget>) {
  return fc.property(targetAndState(targets), ({ t, s }) => {
    const b = buildFrame(s, t);
    const d = decodeBuilt(b, s, t).state;
    const want = written(kernelFrameMembers(s, t, b.placement, b.placement.fpstate), t);
    const got = written(d.frame, t);
    assert.deepEqual(got, want, 'frame struct');
    const { sw_reserved: _sw, reserved2: _r, ...legacyWant } = s.fpu!.legacy;
    const { sw_reserved: _sw2, reserved2: _r2, ...legacyGot } = d.fpu!.legacy;
    same(legacyGot, legacyWant, 'legacy FXSAVE state');
    assert.equal(d.fpu!.xstate_bv, b.xstateBv, 'XSTATE_BV');
    // PKRU's bit follows the era's rule (cleared by 6.12, forced since 6.13), not XINUSE.
    const pkruRule = t.kernel.era.pkruXstateBv === 'xinuse' ? 0n : XFEATURE_MASK.PKRU;
    assert.equal(
      s.fpu!.xstate_bv & b.rfbm & ~b.xstateBv & ~pkruRule,
      0n,
      'every component in use and written is marked',
    );
    for (const nr of bitsOf(b.xstateBv)) {
      if (nr < FIRST_EXTENDED_XFEATURE || nr === XFEATURE.PKRU) continue;
      const name = Object.keys(d.fpu!.components).find((n) => xfeatureNr(t, n) === nr)!;
      same(
        (d.fpu!.components as Record<string, unknown>)[name],
        (s.fpu!.components as Record<string, unknown>)[name],
        name,
      );
    }
    if (has(b.xstateBv, XFEATURE.PKRU) && s.fpu!.pkru !== undefined)
      assert.equal(d.fpu!.components.PKRU?.pkru, s.fpu!.pkru);
  });
}

function xfeatureNr(t: FrameTarget, name: string): number | undefined {
  return [...t.profile.xsave.components.values()].find((c) => c.name === name)?.nr;
}

/** Bytes the kernel leaves alone: padding, reserved words, components outside RFBM, the slack. */
function leftAlone(t: FrameTarget, b: BuiltFrame): [number, number][] {
  const kind = frameKinds[t.kind];
  const out: [number, number][] = [];
  for (const path of kind.kernelSkips) {
    const m = locate(kind.struct, t.model, path);
    out.push([m.offset, m.offset + m.size]);
  }
  const buf = Number(b.placement.bufFx - b.address);
  const r2 = locate(fpstate_64, dataModels.lp64, 'reserved2');
  out.push([buf + r2.offset, buf + r2.offset + r2.size]);
  const all = xsaveLayout(t.profile.xsave, t.task.userXfeatures, 'standard');
  for (const r of all.regions) {
    if (typeof r.nr === 'number' && r.nr >= FIRST_EXTENDED_XFEATURE && !has(b.rfbm, r.nr))
      out.push([buf + r.offset, buf + r.offset + r.size]);
  }
  if (b.placement.magic2 !== null) out.push([Number(b.placement.magic2 - b.address) + 4, b.bytes.length]);
  return out;
}

/** A writer never writes outside [frame, top), and never where the kernel leaves the stack alone. */
export function writesOnlyWhereTheKernelDoes(write?: FrameWriter, targets?: fc.Arbitrary<FrameTarget>) {
  return fc.property(targetAndState(targets), ({ t, s }) => {
    const b = buildFrame(s, t);
    assert.equal(b.written.length, Number(b.top - b.address));
    if (s.delivery.altstack) assert.ok(b.address > s.delivery.altstack.sp, 'the frame starts above ss_sp');
    for (const [from, to] of leftAlone(t, b)) {
      assert.ok(
        b.written.subarray(from, to).every((x) => x === 0),
        `bytes ${from}..${to} are the kernel's to leave alone`,
      );
    }
    if (write) {
      const mine = write(s, t);
      assert.equal(mine.address, b.address, 'frame address');
      for (let i = 0; i < b.bytes.length; i++) {
        if (b.written[i])
          assert.equal(mine.bytes[i], b.bytes[i], `byte ${i} differs from what the kernel writes`);
      }
    }
  });
}

/** Every frame fits in AT_MINSIGSTKSZ: the kernel's worst-case promise holds for each task. */
export function framesFitInAtMinsigstksz(targets = arbitraryTarget()) {
  return fc.property(targets, fc.integer({ min: 0, max: 4095 }), (t, residue) => {
    const top = (1n << 32n) + BigInt(residue);
    const used = bytesBelowTop(frameKinds[t.kind], top, t.task, t.k, t.config);
    assert.ok(used <= maxFrameSize(t.k, t.config), `${used} > ${maxFrameSize(t.k, t.config)}`);
  });
}

/** A thread's frame never shrinks as its AMX state advances (none → permitted → used). */
export function framesNeverShrink(profiles = arbitraryProfile()) {
  return fc.property(profiles, fc.integer({ min: 0, max: 63 }), (p, residue) => {
    const t0 = frameTarget('x86_64', p, kernelChoice(), { bits: 64 }, 'none');
    const top = (1n << 32n) + BigInt(residue);
    const sizes = possibleAmxStates(t0.k, t0.kernel.era, t0.config, 'x86_64').map((amx) =>
      bytesBelowTop(
        frameKinds.x86_64,
        top,
        taskFpu(t0.k, t0.kernel.era, t0.config, 'x86_64', amx),
        t0.k,
        t0.config,
      ),
    );
    assert.deepEqual(
      sizes,
      [...sizes].sort((a, b) => a - b),
    );
  });
}

/** Without AMX use the frame never reaches the tile data region, and never writes tiles. */
export function noTileRegionWithoutAmxUse(targets = arbitraryTarget()) {
  return fc.property(targets, (t) => {
    if (t.amx === 'used') return;
    assert.equal(has(t.task.userXfeatures, XFEATURE.XTILE_DATA), false);
    const tiles = t.profile.xsave.components.get(XFEATURE.XTILE_DATA);
    if (tiles && has(t.k.xcr0, XFEATURE.XTILE_DATA)) assert.ok(t.task.userSize <= tiles.offset);
  });
}

/** compat(P, P) is always compatible, for frames, images and checkpoints. */
export function compatIsReflexive(profiles = arbitraryProfile()) {
  return fc.property(
    profiles,
    fc.constantFrom('frame' as const, 'xsave-image' as const, 'checkpoint' as const),
    (p, what) => {
      const r = compat(p, p, kernelChoice(), { bits: 64 }, what);
      assert.ok(r.compatible, r.findings.map((f) => f.message).join('; '));
    },
  );
}

/** A state on P1 limited to what P2 can hold, converted P1 → P2 → P1, comes back unchanged. */
export function convertRoundTrips(profiles = arbitraryProfile()) {
  const pair = fc.tuple(profiles, profiles).chain(([p1, p2]) => {
    const t1 = frameTarget('x86_64', p1, kernelChoice(), { bits: 64 }, 'none');
    return arbitraryState(t1).map((s) => ({ p1, p2, t1, s: limitTo(s, t1, p2) }));
  });
  return fc.property(pair, ({ p1, p2, s }) => {
    const there = convertState(s, p2, p2.name, kernelChoice(), { bits: 64 });
    const t2 = frameTarget('x86_64', p2, kernelChoice(), { bits: 64 }, there.state.amx);
    const onP2 = decodeBuilt(there.frame, there.state, t2).state;
    const back = convertState(withoutAdded(onP2, s), p1, p1.name, kernelChoice(), { bits: 64 });
    same(back.state.fpu!.components, s.fpu!.components, 'components');
    same(back.state.fpu!.legacy.xmm_space, s.fpu!.legacy.xmm_space, 'xmm');
  });
}

/** compat says compatible ⇒ P1's frame, restored on P2, gives the same registers. */
export function compatMeansSameRegisters(profiles = arbitraryProfile()) {
  const pair = fc.tuple(profiles, profiles).chain(([p1, p2]) => {
    const t1 = frameTarget('x86_64', p1, kernelChoice(), { bits: 64 }, 'none');
    return arbitraryState(t1).map((s) => ({ p1, p2, t1, s }));
  });
  return fc.property(pair, ({ p1, p2, t1, s }) => {
    if (!compat(p1, p2, kernelChoice(), { bits: 64 }, 'frame').compatible) return;
    const b = buildFrame(s, t1);
    const onP1 = decodeBuilt(b, s, t1);
    const t2 = frameTarget('x86_64', p2, kernelChoice(), { bits: 64 }, 'none');
    const onP2 = decodeBuilt(b, s, t2);
    assert.equal(onP2.verdict.verdict, 'full', onP2.verdict.reason);
    same(onP2.registers, onP1.registers, 'registers');
  });
}

const kernelChoice = () => chooseKernel('6.18');

/** The state with only the components P2's tasks also have in use. */
function limitTo(s: SignalState, t1: FrameTarget, p2: Profile): SignalState {
  const k2 = systemTarget(p2, t1.kernel, t1.config).k;
  const shared = k2.userDefault & t1.task.userXfeatures;
  const same = bitsOf(shared).filter((nr) => {
    const a = t1.profile.xsave.components.get(nr);
    const b = p2.xsave.components.get(nr);
    return nr < FIRST_EXTENDED_XFEATURE || (a && b && a.size === b.size);
  });
  const keep = same.reduce((m, nr) => m | bit(nr), XFEATURE_MASK.FPSSE) & ~XFEATURE_MASK.PKRU;
  const fpu = s.fpu!;
  const components = Object.fromEntries(
    Object.entries(fpu.components).filter(([name]) => {
      const nr = xfeatureNr(t1, name);
      return nr !== undefined && has(keep & fpu.xstate_bv, nr);
    }),
  );
  const { pkru: _p, ...rest } = fpu;
  return { ...s, fpu: { ...rest, xstate_bv: fpu.xstate_bv & keep, components } };
}

/** Drops what P2's kernel added on the way (its PKRU default), so only the carried state returns. */
function withoutAdded(onP2: SignalState, original: SignalState): SignalState {
  const fpu = onP2.fpu!;
  const names = new Set(Object.keys(original.fpu!.components));
  const components = Object.fromEntries(Object.entries(fpu.components).filter(([n]) => names.has(n)));
  const { pkru: _p, ...rest } = fpu;
  return { ...onP2, fpu: { ...rest, xstate_bv: original.fpu!.xstate_bv, components } };
}
