import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { buildFrame } from '../src/frame/build.js';
import { derivedSigcontextMembers, frameLayout, imageOffset, sigcontextOf } from '../src/frame/layout.js';
import { frameReader } from '../src/frame/reader.js';
import type { SignalState } from '../src/frame/state.js';
import { FrameWriter } from '../src/frame/writer.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { fpstateSize, xstateSigframeSize } from '../src/kernel/fpu_signal.js';
import { maxFrameSize } from '../src/kernel/signal.js';
import { dynamicXfeatures } from '../src/kernel/task.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { sizeChecks } from '../src/profile/checks.js';
import {
  AmxProcess,
  arbitraryCpuShape,
  arbitraryState,
  arbitraryTarget,
  profileOfShape,
  properties,
} from '../src/testing/index.js';
import { fixture } from './support/helpers.js';

// The layout-compatibility properties sigframe exports (src/testing), each run as a named test with
// the seed from test/support/setup.ts (FC_SEED, FC_NUM_RUNS to change it).
describe('properties over arbitrary CPUs, kernels, ABIs and states', () => {
  test('arbitrary CPUs are consistent: CPUID’s own sizes match their components', () => {
    fc.assert(
      fc.property(arbitraryCpuShape(), (shape) => {
        const p = profileOfShape(shape);
        assert.deepEqual(
          p.xsave.findings.filter((f) => f.level === 'error'),
          [],
        );
        assert.ok(sizeChecks(p).every((c) => c.status === 'ok'));
      }),
    );
  });
  test('decode(build(s)) = s for every ABI', () => fc.assert(properties.decodeBuild()));
  test('build writes only inside [frame, top) and never where the kernel leaves the stack alone', () =>
    fc.assert(properties.writesOnlyWhereTheKernelDoes()));
  test('every frame fits in AT_MINSIGSTKSZ for its profile', () =>
    fc.assert(properties.framesFitInAtMinsigstksz()));
  test('a task’s frame never shrinks when its AMX state advances', () =>
    fc.assert(properties.framesNeverShrink()));
  test('frames of a task that has not used AMX never contain the tile region', () =>
    fc.assert(properties.noTileRegionWithoutAmxUse()));
  test('compat(P, P) is always compatible', () => fc.assert(properties.compatIsReflexive()));
  test('convert(P1 → P2 → P1) is the identity on shared components', () =>
    fc.assert(properties.convertRoundTrips()));
  test('compat says compatible ⇒ P2 restores P1’s frame with the same registers', () =>
    fc.assert(properties.compatMeansSameRegisters()));

  test('a writer that gets one byte wrong is caught, with the offset', () => {
    const wrong = (s: Parameters<typeof buildFrame>[0], t: Parameters<typeof buildFrame>[1]) => {
      const b = buildFrame(s, t);
      const bytes = Uint8Array.from(b.bytes);
      bytes[8] = (bytes[8]! + 1) & 0xff; // uc_flags' low byte on 64-bit frames, siginfo on ia32
      return { address: b.address, bytes };
    };
    assert.throws(
      () => fc.assert(properties.writesOnlyWhereTheKernelDoes(wrong), { numRuns: 20 }),
      (e: Error & { cause?: Error }) =>
        /byte 8 differs from what the kernel writes/.test(String(e.cause?.message)),
    );
  });
});

// The AMX process model of the design mail, driven by fast-check commands. The expectations below
// are the kernel's rules written out with the profile's numbers (kernel-signal-abi.md, formulas
// 7–10), independent of src/kernel/process.ts, which composes the model's own functions.
interface Model {
  permitted: boolean;
  threads: { altstack: number; used: boolean }[];
}

function numbers(profile: string, version: string) {
  const p = loadBuiltinProfile(profile);
  const kernel = chooseKernel(version);
  const config = { bits: 64 as const };
  const k = kernelXfeatures(p.cpuid, p.xsave, kernel.era, config);
  const at = maxFrameSize(k, config);
  return {
    k,
    era: kernel.era,
    config,
    amx: dynamicXfeatures(k, kernel.era) !== 0n,
    at,
    fpstate: fpstateSize(k, config),
    // Bytes below a top ≡ r (mod 64): X + ((T − X) mod 64) + 456 for x86-64 frames.
    frame: (userSize: number, r: number) => {
      const x = xstateSigframeSize(userSize, k);
      return x + ((((r - x) % 64) + 64) % 64) + 456;
    },
  };
}

type Real = { p: AmxProcess };
type N = ReturnType<typeof numbers>;

class RequestPermission implements fc.Command<Model, Real> {
  constructor(readonly n: N) {}
  check = () => true;
  run(m: Model, r: Real) {
    const got = r.p.requestPermission();
    let want: string | 0;
    if (!this.n.amx) want = this.n.era.xfeatureMax === null ? 'EINVAL' : 'EOPNOTSUPP';
    else if (m.permitted) want = 0;
    else if (m.threads.some((t) => t.altstack > 0 && t.altstack < this.n.at)) want = 'ENOSPC';
    else want = 0;
    assert.equal(got, want);
    if (want === 0 && this.n.amx) m.permitted = true;
  }
  toString = () => 'arch_prctl(ARCH_REQ_XCOMP_PERM, 18)';
}

class SetAltstack implements fc.Command<Model, Real> {
  constructor(
    readonly n: N,
    readonly tid: number,
    readonly size: number,
  ) {}
  check = (m: Readonly<Model>) => this.tid < m.threads.length;
  run(m: Model, r: Real) {
    const permUser = m.permitted ? this.n.k.maxSize : this.n.k.defaultSize;
    const limit = this.n.at - this.n.fpstate + permUser;
    const enforced = this.n.amx && m.permitted;
    const want = this.size < 2048 || (enforced && this.size <= limit) ? 'ENOMEM' : 0;
    assert.equal(r.p.sigaltstack(this.tid, this.size), want);
    if (want === 0) m.threads[this.tid]!.altstack = this.size;
  }
  toString = () => `sigaltstack(thread ${this.tid}, ${this.size})`;
}

class UseAmx implements fc.Command<Model, Real> {
  constructor(
    readonly n: N,
    readonly tid: number,
  ) {}
  check = (m: Readonly<Model>) => this.tid < m.threads.length;
  run(m: Model, r: Real) {
    const want = this.n.amx && m.permitted ? 'ok' : 'SIGILL';
    assert.equal(r.p.useAmx(this.tid), want);
    if (want === 'ok') m.threads[this.tid]!.used = true;
  }
  toString = () => `tile instruction in thread ${this.tid}`;
}

class Deliver implements fc.Command<Model, Real> {
  constructor(
    readonly n: N,
    readonly tid: number,
    readonly residue: number,
  ) {}
  check = (m: Readonly<Model>) => this.tid < m.threads.length;
  run(m: Model, r: Real) {
    const t = m.threads[this.tid]!;
    const userSize = t.used ? this.n.k.maxSize : this.n.k.defaultSize;
    const got = r.p.deliver(this.tid, this.residue);
    if (t.altstack === 0) {
      assert.equal(got.outcome, 'delivered');
      return;
    }
    const bytes = this.n.frame(userSize, this.residue);
    assert.equal(got.bytes, bytes, 'frame size below the top');
    assert.equal(got.outcome, bytes < t.altstack ? 'delivered' : 'sigsegv');
  }
  toString = () => `signal to thread ${this.tid} (top ≡ ${this.residue} mod 64)`;
}

class NewThread implements fc.Command<Model, Real> {
  check = (m: Readonly<Model>) => m.threads.length < 4;
  run(m: Model, r: Real) {
    assert.equal(r.p.newThread(), m.threads.length);
    m.threads.push({ altstack: 0, used: false });
  }
  toString = () => 'pthread_create';
}

class Fork implements fc.Command<Model, Real> {
  constructor(readonly tid: number) {}
  check = (m: Readonly<Model>) => this.tid < m.threads.length;
  run(m: Model, r: Real) {
    r.p = r.p.fork(this.tid);
    m.threads = [{ ...m.threads[this.tid]! }];
    assert.equal(r.p.permitted, m.permitted, 'permission is inherited');
  }
  toString = () => `fork from thread ${this.tid}, continue in the child`;
}

class Exec implements fc.Command<Model, Real> {
  check = () => true;
  run(m: Model, r: Real) {
    r.p.exec();
    m.permitted = false;
    m.threads = [{ altstack: 0, used: false }];
    assert.equal(r.p.permitted, false, 'exec drops the permission');
  }
  toString = () => 'execve';
}

function commands(n: N) {
  const tid = fc.integer({ min: 0, max: 3 });
  const size = fc.oneof(
    fc.integer({ min: 1024, max: 4096 }),
    fc.integer({ min: n.at - 400, max: n.at + 100 }),
    fc.constantFrom(2047, 2048, 8192, n.at - 1, n.at, n.at + 4096),
  );
  return [
    fc.constant(new RequestPermission(n)),
    fc.tuple(tid, size).map(([t, s]) => new SetAltstack(n, t, s)),
    tid.map((t) => new UseAmx(n, t)),
    fc.tuple(tid, fc.integer({ min: 0, max: 63 })).map(([t, r]) => new Deliver(n, t, r)),
    fc.constant(new NewThread()),
    tid.map((t) => new Fork(t)),
    fc.constant(new Exec()),
  ];
}

describe('the AMX process model (fc.commands)', () => {
  for (const [profile, version] of [
    ['intel-sapphire-rapids', '6.18'],
    ['intel-sapphire-rapids', '5.15'],
    ['intel-cascade-lake', '6.18'],
  ] as const) {
    test(`${profile}, Linux ${version}: return codes, frame sizes and overflows follow the kernel at every step`, () => {
      const n = numbers(profile, version);
      fc.assert(
        fc.property(fc.commands(commands(n), { maxCommands: 40 }), (cmds) => {
          const setup = () => ({
            model: { permitted: false, threads: [{ altstack: 0, used: false }] },
            real: { p: new AmxProcess(n.k, n.era, n.config) },
          });
          fc.modelRun(setup, cmds);
        }),
      );
    });
  }
});

describe('FrameWriter', () => {
  test('what it refuses, by name: unknown or derived registers, sizes, a different XSTATE_BV', () => {
    const { decoded } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const t = stateTarget(decoded.state);
    const w = new FrameWriter(decoded.state, t);
    const fx = Number(w.template.placement.bufFx - w.template.address);
    const image = w.template.bytes.slice(fx, fx + t.task.userSize);
    assert.deepEqual(w.write({ xsave: image }), w.template.bytes, 'the template image writes the template');
    assert.throws(
      () => w.write({ sigcontext: { rip: 1n } }),
      /sigcontext\.rip is not a register the writer sets/,
    );
    assert.throws(() => w.write({ sigcontext: { fpstate: 0n } }), /sigcontext\.fpstate is not a register/);
    assert.throws(() => w.write({}, new Uint8Array(10)), /output must be 2952 bytes, not 10/);
    assert.throws(() => w.write({ xsave: image.subarray(1) }), /xsave is 2432 bytes, not 2431/);
    assert.throws(
      () => w.write({ xsave: image, legacy: image.subarray(0, imageOffset('reserved2')) }),
      /either xsave or legacy/,
    );
    const other = image.slice();
    other[imageOffset('header.xfeatures')] = 0x03;
    assert.throws(() => w.write({ xsave: other }), /XSTATE_BV 0x3 is not the template's 0xe7/);
    assert.throws(
      () => w.write({ components: new Map([[9, new Uint8Array(8)]]) }),
      /component 9 is not in use/,
    );
    const ia32 = loadFrame(fixture('frames', 'ia32-rt-sigusr1.json')).decoded;
    const foreign = frameReader(stateTarget(ia32.state)).registerFile();
    assert.throws(
      () => w.write({ registers: foreign }),
      /register file is not one of .* x86_64 frames \(it says ia32-rt\)/,
    );
    const own = frameReader(t).registerFile();
    assert.throws(() => w.write({ registers: own, sigcontext: {} }), /either sigcontext or registers/);
    const ip = w.write({ sigcontext: { ip: 0x1234n, cs: 0x33 } });
    const sc = frameLayout(t).sigcontext.fields;
    const at = (n: string) => sc.find(([name]) => name === n)![1].offset;
    assert.equal(new DataView(ip.buffer).getBigUint64(at('ip'), true), 0x1234n);
    assert.equal(new DataView(ip.buffer).getUint16(at('cs'), true), 0x33);
  });

  test('writing registers into a template equals building the frame with those registers', () => {
    const pairs = arbitraryTarget().chain((t) =>
      fc.tuple(fc.constant(t), arbitraryState(t), arbitraryState(t)),
    );
    fc.assert(
      fc.property(pairs, ([t, s, other]) => {
        // s2: s with other's registers — same delivery, signal, mask and in-use set.
        const sc = (f: SignalState['frame']) => sigcontextOf(f, t.kind) as Record<string, unknown>;
        const frame2 = structuredClone(s.frame);
        const regs: Record<string, bigint | number> = {};
        for (const [k, v] of Object.entries(sc(other.frame))) {
          if (typeof v === 'bigint' || typeof v === 'number') {
            if (derivedSigcontextMembers(t.kind).includes(k)) continue;
            sc(frame2)[k] = v;
            regs[k] = v;
          }
        }
        const names = Object.keys(s.fpu!.components);
        const comps = Object.fromEntries(
          names.map((n) => [
            n,
            (other.fpu!.components as Record<string, unknown>)[n] ??
              (s.fpu!.components as Record<string, unknown>)[n],
          ]),
        );
        // The task keeps its one PKRU (fpu.pkru, which 6.12+ kernels store themselves): the
        // component's register is that value.
        if (comps.PKRU && s.fpu!.pkru !== undefined)
          comps.PKRU = { ...(comps.PKRU as object), pkru: s.fpu!.pkru };
        const s2: SignalState = {
          ...s,
          frame: frame2,
          fpu: {
            ...s.fpu!,
            legacy: { ...other.fpu!.legacy, mxcsr: other.fpu!.legacy.mxcsr },
            components: comps,
          },
        };
        const want = buildFrame(s2, t);
        const buf = Number(want.placement.bufFx - want.address);
        const w = new FrameWriter(s, t);
        const components = new Map<number, Uint8Array>();
        for (const [nr, c] of frameLayout(t).image.components) {
          if ((want.xstateBv >> BigInt(nr)) & 1n)
            components.set(nr, want.bytes.subarray(buf + c.offset, buf + c.offset + c.size));
        }
        const got = w.write({
          sigcontext: regs,
          legacy: want.bytes.subarray(buf, buf + frameLayout(t).image.registers.size),
          components,
        });
        // The same registers as one XSAVE image (NT_X86_XSTATE style), into a reused, unaligned output.
        const image = want.bytes.slice(buf, buf + t.task.userSize);
        const unaligned = new Uint8Array(got.length + 1).subarray(1);
        const fromImage = w.write({ sigcontext: regs, xsave: image }, unaligned);
        // And the sigcontext as the register file the compiled reader fills from the wanted frame.
        const reader = frameReader(t);
        const file = reader.registerFile();
        reader.readInto(want.bytes, want.address, file);
        // Into an output 8 bytes into its buffer, between guard bytes: the writer's views span
        // the output alone, from its own start.
        const host = new Uint8Array(got.length + 16).fill(0xa5);
        const fromFile = w.write({ registers: file, xsave: image }, host.subarray(8, 8 + got.length));
        const guards = [...host.subarray(0, 8), ...host.subarray(8 + got.length)];
        assert.deepEqual(guards, new Array(16).fill(0xa5), 'the bytes around the output');
        for (let i = 0; i < got.length; i++) {
          if (want.written[i]) {
            assert.equal(got[i], want.bytes[i], `byte ${i}`);
            assert.equal(fromImage[i], want.bytes[i], `byte ${i} (xsave image)`);
            assert.equal(fromFile[i], want.bytes[i], `byte ${i} (register file)`);
          }
        }
      }),
    );
  });
});
