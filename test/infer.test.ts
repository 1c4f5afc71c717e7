import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { toJson } from '../cli/output.js';
import { type FrameKindName, frameKinds } from '../layouts/frames.js';
import { buildFrame } from '../src/frame/build.js';
import { decodeFrame } from '../src/frame/decode.js';
import {
  checkFrame,
  deliverableKinds,
  inferFrameLayout,
  inferXsaveLayout,
  type ProfileChoice,
} from '../src/frame/infer.js';
import { frameLayout } from '../src/frame/layout.js';
import type { FrameValue, SignalState } from '../src/frame/state.js';
import { type FrameTarget, frameTarget } from '../src/frame/target.js';
import { loadFrame, resolveFrame, shippedProfileChoices, stateTarget } from '../src/io/frames.js';
import { loadBuiltinProfile, loadProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { systemTarget } from '../src/kernel/system.js';
import { possibleAmxStates } from '../src/kernel/task.js';
import type { KernelConfig } from '../src/kernel/xstate.js';
import { DecodeError, SigframeError } from '../src/schema/errors.js';
import { valueAt } from '../src/schema/value.js';
import { arbitraryKernel, arbitraryState } from '../src/testing/states.js';
import { bitsOf, SW_RESERVED } from '../src/xsave/catalog.js';
import { fixture } from './support/helpers.js';

const shipped = shippedProfileChoices();
const latest = chooseKernel();
const config: KernelConfig = { bits: 64, ia32Emulation: true };

/** Every shipped profile × frame kind × AMX state the kernel allows. */
function everyTarget(kernel = latest, cfg = config): FrameTarget[] {
  return shipped.flatMap(({ profile }) =>
    deliverableKinds(cfg).flatMap((kind) => {
      const { k } = systemTarget(profile, kernel, cfg);
      return possibleAmxStates(k, kernel.era, cfg, frameKinds[kind].abi).map((amx) =>
        frameTarget(kind, profile, kernel, cfg, amx),
      );
    }),
  );
}

/**
 * A state the kernel could have written: arbitraryState() fills the members the kernel copies
 * with anything, and a restorer and signal number are among them; a real frame has a restorer in
 * user space and a signal number 1..64.
 */
function plausible(s: SignalState, signo: number, restorer: number): SignalState {
  const frame = structuredClone(s.frame) as FrameValue;
  const v = frame as unknown as Record<string, unknown>;
  const same = (old: unknown, n: number) => (typeof old === 'bigint' ? BigInt(n) : n);
  v.pretcode = same(v.pretcode, restorer);
  if ('sig' in v) v.sig = signo;
  const info = valueAt(frame, 'info') as Record<string, unknown> | undefined;
  if (info && 'si_signo' in info) info.si_signo = signo;
  return { ...s, frame };
}

const plausibleState = (t: FrameTarget) =>
  fc
    .tuple(arbitraryState(t), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0x10000, max: 0x7fffffff }))
    .map(([s, signo, restorer]) => plausible(s, signo, restorer));

/** A decoded state as JSON, without the names of the profile and AMX state an equivalent layout may give. */
function stateJson(s: SignalState): unknown {
  const { profile: _p, amx: _a, ...rest } = JSON.parse(toJson(s));
  return rest;
}

/** Offsets of the components XSTATE_BV says are present, in a target's image. */
function presentOffsets(t: FrameTarget, xstateBv: bigint): Record<string, number> {
  const comps = frameLayout(t).image.components;
  return Object.fromEntries(
    bitsOf(xstateBv).flatMap((nr) => (comps.has(nr) ? [[nr, comps.get(nr)!.offset]] : [])),
  );
}

/** The built frame decoded with no profile: inference over the shipped profiles, kinds and AMX states. */
function inferBuilt(t: FrameTarget, s: SignalState) {
  const b = buildFrame(s, t);
  const memory = { address: b.address, bytes: b.bytes };
  const truth = decodeFrame({
    memory,
    kind: t.kind,
    profile: t.profile,
    kernel: t.kernel,
    config: t.config,
    amx: t.amx,
    delivery: s.delivery,
  });
  const got = resolveFrame(memory, {
    defaultKind: 'x86_64',
    kernel: t.kernel,
    config: t.config,
    delivery: s.delivery,
  });
  return { b, truth, got };
}

function holdsToTruth(t: FrameTarget, s: SignalState) {
  const { b, truth, got } = inferBuilt(t, s);
  assert.deepEqual(truth.findings, [], 'the built frame fits its own layout');
  assert.equal(got.layout.source, 'inferred');
  assert.equal(got.state.kind, t.kind, 'the frame kind');
  assert.equal(got.frame, b.address);
  if (got.layout.profile !== t.profile.name) {
    const chosen = frameTarget(
      got.state.kind,
      loadBuiltinProfile(got.layout.profile),
      t.kernel,
      t.config,
      got.state.amx,
    );
    assert.deepEqual(
      presentOffsets(chosen, b.xstateBv),
      presentOffsets(t, b.xstateBv),
      `${got.layout.profile} reads the components at ${t.profile.name}'s offsets`,
    );
    assert.equal(frameLayout(chosen).image.userSize, t.task.userSize);
  }
  assert.ok(
    got.layout.profile === t.profile.name || got.layout.candidates.some((c) => c.profile === t.profile.name),
    `${t.profile.name} is the choice or one of the equivalent candidates (${got.layout.profile}; ${got.layout.candidates.map((c) => c.profile).join(', ')})`,
  );
  assert.deepEqual(stateJson(got.state), stateJson(truth.state), 'the decoded state');
  assert.deepEqual(got.findings, []);
}

describe('layout inference', () => {
  test('every shipped profile × frame kind × AMX state: built frames decode without a profile as built', () => {
    for (const t of everyTarget()) {
      for (const s of fc.sample(plausibleState(t), { numRuns: 2, seed: 20261125 })) holdsToTruth(t, s);
    }
  });

  test('property: any plausible state, kernel era and configuration comes back as built', () => {
    const combos = fc
      .tuple(fc.constantFrom(...shipped), arbitraryKernel(), fc.nat(), fc.nat())
      .map(([{ profile }, { version, config: cfg }, kindPick, amxPick]) => {
        const kernel = chooseKernel(version);
        const kinds = deliverableKinds(cfg);
        const kind = kinds[kindPick % kinds.length]!;
        const { k } = systemTarget(profile, kernel, cfg);
        const states = possibleAmxStates(k, kernel.era, cfg, frameKinds[kind].abi);
        return frameTarget(kind, profile, kernel, cfg, states[amxPick % states.length]!);
      });
    fc.assert(
      fc.property(
        combos.chain((t) => plausibleState(t).map((s) => ({ t, s }))),
        ({ t, s }) => holdsToTruth(t, s),
      ),
      { numRuns: 60 },
    );
  });

  test('property: a frame read from the wrong address is an error naming a member, never a decode', () => {
    const targets = everyTarget();
    fc.assert(
      fc.property(
        fc.constantFrom(...targets).chain((t) =>
          fc.record({
            t: fc.constant(t),
            s: plausibleState(t),
            shift: fc.integer({ min: -4096, max: 4096 }),
          }),
        ),
        ({ t, s, shift }) => {
          fc.pre(shift !== 0);
          const b = buildFrame(s, t);
          const memory = { address: b.address + BigInt(shift), bytes: b.bytes };
          try {
            const d = resolveFrame(memory, { defaultKind: 'x86_64', kernel: t.kernel, config: t.config });
            assert.fail(
              `decoded as ${d.layout.profile} ${d.state.kind} with findings ${JSON.stringify(d.findings)}`,
            );
          } catch (e) {
            if (!(e instanceof SigframeError)) throw e;
            assert.ok(e.where.offset !== undefined || e.where.path !== undefined, e.message);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test('a frame from a CPU no shipped profile has: a layout family with the same offsets reads it', () => {
    // amd-epyc-zen4-kvm is the only shipped profile with XCR0 0xe7 on AMD offsets; without it,
    // the Zen 4 parts (XCR0 0x2e7: PKRU behind Hi16_ZMM) lay out 0xe7 in the same 2432 bytes.
    const { capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const others = shipped.filter((p) => p.ref !== 'amd-epyc-zen4-kvm');
    const inferred = inferFrameLayout(capture!.memory, {
      profiles: others,
      kernel: chooseKernel('6.18'),
      config,
    });
    assert.equal(inferred.chosen?.fit, 'family');
    assert.equal(inferred.chosen?.ref, 'amd-zen4-genoa');
    assert.deepEqual(
      inferred.equivalent.map((c) => c.ref),
      ['amd-zen4-genoa', 'amd-zen4-raphael'],
    );
    assert.equal(inferred.conflict, undefined);
  });

  test('the AVX-512 capture on an AVX2-only host: inferred, with and without --top', () => {
    const info = JSON.parse(readFileSync(fixture('frames', 'x86_64-sigusr1-vectors.json'), 'utf8'));
    const bytes = new Uint8Array(readFileSync(fixture('frames', 'x86_64-sigusr1-vectors.bin')));
    const memory = { address: BigInt(info.address), bytes };
    const truth = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json')).decoded;
    const host = {
      ref: 'host',
      profile: loadBuiltinProfile('qemu-epyc-milan-avx2'),
      source: 'host' as const,
    };
    for (const locate of [undefined, { top: BigInt(info.top) }]) {
      const d = resolveFrame(memory, {
        named: host,
        defaultKind: 'x86_64',
        kernel: chooseKernel('6.18.44'),
        config,
        ...(locate ? { locate } : {}),
      });
      assert.equal(d.layout.source, 'inferred');
      assert.equal(d.layout.profile, 'amd-epyc-zen4-kvm');
      assert.match(d.layout.why, /not host x86_64/);
      assert.equal(d.frame, BigInt(info.address));
      assert.deepEqual(JSON.parse(toJson(d.registers)), JSON.parse(toJson(truth.registers)));
      assert.deepEqual(JSON.parse(toJson(d.state.frame)), JSON.parse(toJson(truth.state.frame)));
      assert.equal(d.verdict.verdict, 'full');
    }
    // --profile: the frame must fit it; --force decodes anyway, with the misfits as notes.
    const given = { ref: 'qemu-epyc-milan-avx2', profile: loadProfile('qemu-epyc-milan-avx2') };
    const strict = () => resolveFrame(memory, { given, defaultKind: 'x86_64', kernel: latest, config });
    assert.throws(strict, (e: unknown) => {
      assert.ok(e instanceof DecodeError);
      assert.match(e.message, /sw_reserved\.xfeatures at byte \d+: 0xe7, expected 0x7/);
      assert.match(e.message, /sw_reserved\.xstate_size at byte \d+: 2432, expected 832/);
      assert.match(e.message, /It fits amd-epyc-zen4-kvm x86_64/);
      assert.equal(e.where.path, 'sw_reserved.xfeatures');
      return true;
    });
    const forced = resolveFrame(memory, {
      given,
      defaultKind: 'x86_64',
      kernel: latest,
      config,
      force: true,
    });
    assert.equal(forced.layout.source, 'profile');
    assert.ok(forced.findings.some((f) => f.field === 'sw_reserved.xstate_size'));
    assert.ok(forced.notes.some((n) => /does not fit: sw_reserved\.xfeatures/.test(n)));
  });

  test('every captured frame fits the profile its capture names: no findings', () => {
    for (const dir of [fixture('frames'), fixture('frames', 'avx2')]) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.json') && x !== 'host-profile.json')) {
        const { decoded, capture } = loadFrame(`${dir}/${f}`);
        assert.equal(decoded.layout.source, 'capture', f);
        const l = frameLayout(stateTarget(decoded.state));
        assert.deepEqual(checkFrame(capture!.memory, decoded.frame, l), [], f);
      }
    }
  });

  test('checks name the member, its byte offset and both values', () => {
    const { decoded, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const l = frameLayout(stateTarget(decoded.state));
    const bytes = capture!.memory.bytes.slice();
    const sc = l.sigcontext.fields.find(([n]) => n === 'fpstate')![1];
    const dv = new DataView(bytes.buffer);
    dv.setBigUint64(sc.offset, dv.getBigUint64(sc.offset, true) + 64n, true);
    const f = checkFrame({ address: capture!.memory.address, bytes }, decoded.frame, l);
    assert.equal(f[0]!.field, 'uc.uc_mcontext.fpstate');
    assert.equal(f[0]!.offset, sc.offset);
    assert.match(f[0]!.expected, /the frame \+ \d+/);
  });

  test('an ia32 frame without --abi is recognised as ia32', () => {
    for (const [name, kind] of [
      ['ia32-rt-sigusr1', 'ia32-rt'],
      ['ia32-legacy-sigusr1', 'ia32'],
    ] as [string, FrameKindName][]) {
      const info = JSON.parse(readFileSync(fixture('frames', `${name}.json`), 'utf8'));
      const memory = {
        address: BigInt(info.address),
        bytes: new Uint8Array(readFileSync(fixture('frames', `${name}.bin`))),
      };
      const host = {
        ref: 'host',
        profile: loadProfile(fixture('frames', 'host-profile.json')),
        source: 'host' as const,
      };
      for (const locate of [undefined, { top: BigInt(info.top) }]) {
        const d = resolveFrame(memory, {
          named: host,
          defaultKind: 'x86_64',
          kernel: latest,
          config,
          ...(locate ? { locate } : {}),
        });
        assert.equal(d.state.kind, kind, name);
        assert.equal(d.layout.profile, 'host');
        assert.equal(d.frame, BigInt(info.address));
      }
    }
  });
});

describe('a bare XSAVE image (NT_X86_XSTATE)', () => {
  /** The fixture frame's image as a core file holds it: XCR0 in sw_reserved's first word. */
  function coreImage(name: string, xcr0: bigint): Uint8Array {
    const { decoded, capture } = loadFrame(fixture('frames', `${name}.json`));
    const off = Number(decoded.buf_fx! - capture!.memory.address);
    const img = capture!.memory.bytes.slice(off, off + decoded.sw_reserved!.xstate_size);
    new DataView(img.buffer).setBigUint64(SW_RESERVED.offset, xcr0, true);
    return img;
  }

  test('AVX-512 on AMD offsets: the profile, its family and the component offsets', () => {
    const r = inferXsaveLayout(coreImage('x86_64-sigusr1-vectors', 0xe7n), {
      profiles: shipped as ProfileChoice[],
    });
    assert.equal(r.xcr0, 0xe7n);
    assert.equal(r.size, 2432);
    assert.equal(r.format, 'standard');
    assert.deepEqual(r.exact, ['amd-epyc-zen4-kvm']);
    assert.deepEqual(r.families[0]!.profiles, ['amd-epyc-zen4-kvm', 'amd-zen4-genoa', 'amd-zen4-raphael']);
    assert.equal(r.families.length, 1, 'Intel offsets give 2688 bytes for 0xe7, not 2432');
    const zmm = r.components!.find((c) => c.name === 'ZMM_Hi256')!;
    assert.deepEqual([zmm.offset, zmm.present], [896, true]);
    assert.deepEqual(r.findings, []);
    assert.equal(r.conflict, undefined);
  });

  test('AVX2 only: every profile whose CPU has YMM at 576 is one family', () => {
    const r = inferXsaveLayout(coreImage('avx2/x86_64-sigusr1-vectors', 0x7n), {
      profiles: shipped as ProfileChoice[],
    });
    assert.equal(r.size, 832);
    assert.deepEqual(r.exact, ['intel-broadwell-u', 'intel-haswell-ep', 'qemu-epyc-milan-avx2']);
    assert.equal(r.families.length, 1);
    assert.ok(r.families[0]!.profiles.includes('amd-zen4-genoa'), 'a Zen 4 lays out 0x7 the same way');
    assert.deepEqual(
      r.components!.map((c) => [c.name, c.offset]),
      [['YMM', 576]],
    );
  });

  test('XSTATE_BV outside XCR0 is a finding; a size no CPU gives matches nothing', () => {
    const img = coreImage('x86_64-sigusr1-vectors', 0x7n);
    const r = inferXsaveLayout(img, { profiles: shipped as ProfileChoice[], size: 2432 });
    assert.equal(r.findings[0]?.field, 'XSTATE_BV');
    assert.deepEqual(r.families, []);
    assert.equal(r.components, undefined);
  });
});
