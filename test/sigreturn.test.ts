import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { frameKinds } from '../layouts/frames.js';
import { XFEATURE_MASK } from '../layouts/xfeatures.js';
import { decodeFrame } from '../src/frame/decode.js';
import { imageOffset } from '../src/frame/layout.js';
import { captureHostFrames } from '../src/host/capture.js';
import { emulatedCpu } from '../src/host/probe.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { locate } from '../src/schema/layout.js';
import { bit } from '../src/xsave/catalog.js';
import { loadProfileFrom } from './support/frames.js';
import { fixture, hostSkipReason, targetSkipReason } from './support/helpers.js';

// The verdicts rt_sigreturn reaches, on a real frame edited the way the reference's sigret.c
// experiment edited live frames (../shared/reference/kernel-signal-abi.md §3.3, measured M6.18).
describe('sigreturn verdicts', () => {
  const file = fixture('frames', 'x86_64-sigusr1-vectors.json');
  const base = loadFrame(file);
  const info = base.capture!.info;
  const profile = loadBuiltinProfile('amd-epyc-zen4-kvm');
  const kernel = chooseKernel('6.18');
  const verdictOf = (edit: (b: Buffer, fp: number) => void) => {
    const bytes = Buffer.from(base.capture!.memory.bytes);
    edit(bytes, Number(base.decoded.fpstate - info.address));
    return decodeFrame({
      memory: { address: info.address, bytes },
      kind: 'x86_64',
      profile,
      kernel,
      config: { bits: 64 },
    }).verdict;
  };
  const sc = 48;
  test('intact: full restore', () => assert.equal(verdictOf(() => {}).verdict, 'full'));
  test('magic1, xstate_size or MAGIC2 wrong: fx-only', () => {
    assert.equal(
      verdictOf((b, fp) => b.writeUInt32LE(0, fp + imageOffset('sw_reserved.magic1'))).verdict,
      'fx-only',
    );
    assert.equal(
      verdictOf((b, fp) => b.writeUInt32LE(0x7fffffff, fp + imageOffset('sw_reserved.xstate_size'))).verdict,
      'fx-only',
    );
    assert.equal(
      verdictOf((b, fp) => b.writeUInt32LE(0, fp + base.decoded.sw_reserved!.xstate_size)).verdict,
      'fx-only',
    );
    assert.match(
      verdictOf((b, fp) => b.writeUInt32LE(0, fp + base.decoded.sw_reserved!.xstate_size)).reason,
      /MAGIC2/,
    );
  });
  test('XSTATE_BV bit outside XCR0, XCOMP_BV, MXCSR reserved bit: SIGSEGV; header bytes 24..63 are not checked', () => {
    assert.match(
      verdictOf((b, fp) =>
        b.writeBigUInt64LE(0xe7n | XFEATURE_MASK.PKRU, fp + imageOffset('header.xfeatures')),
      ).reason,
      /outside XCR0/,
    );
    assert.equal(
      verdictOf((b, fp) => b.writeBigUInt64LE(1n, fp + imageOffset('header.reserved1[0]'))).verdict,
      'sigsegv',
    );
    assert.equal(
      verdictOf((b, fp) => b.writeBigUInt64LE(1n, fp + imageOffset('header.reserved1[1]'))).verdict,
      'sigsegv',
    );
    assert.equal(
      verdictOf((b, fp) => b.writeBigUInt64LE(1n, fp + imageOffset('header.reserved2[3]'))).verdict,
      'full',
    );
    assert.match(
      verdictOf((b, fp) => b.writeUInt32LE(0x80001f80, fp + imageOffset('mxcsr'))).reason,
      /MXCSR/,
    );
  });
  test('components cleared from XSTATE_BV go to INIT; fpstate NULL resets the FPU', () => {
    const v = verdictOf((b, fp) => b.writeBigUInt64LE(0xe3n, fp + imageOffset('header.xfeatures')));
    assert.equal(v.verdict, 'full');
    assert.equal(v.init & XFEATURE_MASK.YMM, XFEATURE_MASK.YMM, 'YMM to INIT');
    assert.equal(verdictOf((b) => b.writeBigUInt64LE(0n, sc + 184)).verdict, 'init');
  });
  test('a shifted or foreign fpstate pointer: fx-only when the magic no longer matches, SIGSEGV outside', () => {
    assert.equal(
      verdictOf((b) => b.writeBigUInt64LE(base.decoded.fpstate + 16n, sc + 184)).verdict,
      'fx-only',
    );
    assert.match(verdictOf((b) => b.writeBigUInt64LE(0x1000n, sc + 184)).reason, /not in the given bytes/);
    assert.match(
      verdictOf((b) => b.writeBigUInt64LE(0xffff800000000000n, sc + 184)).reason,
      /not user memory/,
    );
  });
});

// The same edits applied by native/sigreturn.c inside a live handler and by this test to a frame
// captured live on the same machine: the model's verdict must predict what rt_sigreturn did, for
// the 64-bit path (XRSTOR straight from the frame) and the ia32 one (converted in software).
describe('sigreturn verdicts against the live kernel', { skip: hostSkipReason() }, () => {
  interface At {
    fx: number;
    ptr: { offset: number; size: number };
    size: number;
    foreign: number;
  }
  type Edit = (b: Buffer, at: At) => void;
  const readPtr = (b: Buffer, p: At['ptr']) =>
    p.size === 8 ? b.readBigUInt64LE(p.offset) : BigInt(b.readUInt32LE(p.offset));
  const writePtr = (b: Buffer, p: At['ptr'], v: bigint) =>
    p.size === 8 ? b.writeBigUInt64LE(v, p.offset) : b.writeUInt32LE(Number(v), p.offset);
  const edits: Record<string, Edit> = {
    none: () => {},
    magic1: (b, a) => b.writeUInt32LE(0, a.fx + imageOffset('sw_reserved.magic1')),
    xstate_size: (b, a) => b.writeUInt32LE(0x7fffffff, a.fx + imageOffset('sw_reserved.xstate_size')),
    magic2: (b, a) => b.writeUInt32LE(0, a.fx + a.size),
    xstate_bv_clear_ymm: (b, a) =>
      b.writeBigUInt64LE(
        b.readBigUInt64LE(a.fx + imageOffset('header.xfeatures')) & ~4n,
        a.fx + imageOffset('header.xfeatures'),
      ),
    xstate_bv_foreign: (b, a) =>
      b.writeBigUInt64LE(
        b.readBigUInt64LE(a.fx + imageOffset('header.xfeatures')) | bit(a.foreign),
        a.fx + imageOffset('header.xfeatures'),
      ),
    xcomp_bv: (b, a) => b.writeBigUInt64LE(1n, a.fx + imageOffset('header.reserved1[0]')),
    header_reserved: (b, a) => b.writeBigUInt64LE(1n, a.fx + imageOffset('header.reserved2[3]')),
    mxcsr_reserved: (b, a) =>
      b.writeUInt32LE(
        (b.readUInt32LE(a.fx + imageOffset('mxcsr')) | 0x80000000) >>> 0,
        a.fx + imageOffset('mxcsr'),
      ),
    fpstate_null: (b, a) => writePtr(b, a.ptr, 0n),
    fpstate_shift16: (b, a) => writePtr(b, a.ptr, readPtr(b, a.ptr) + 16n),
    header_16: (b, a) => b.writeBigUInt64LE(1n, a.fx + imageOffset('header.reserved1[1]')),
    header_24: (b, a) => b.writeBigUInt64LE(1n, a.fx + imageOffset('header.reserved2[0]')),
  };

  // What XRSTOR restores, and which header it refuses, is the CPU's part of the verdict.
  const emulator = hostSkipReason() ? undefined : emulatedCpu();
  const onEmulator = emulator
    ? `this CPU is emulated (${emulator}): what its XRSTOR restores or refuses is the emulator's, not a CPU's`
    : undefined;
  for (const [abi, scenario, skip] of [
    ['x86_64', 'x86_64-sigusr1-vectors', onEmulator],
    ['ia32', 'ia32-rt-sigusr1', onEmulator ?? targetSkipReason('-m32')],
  ] as const) {
    test(`${abi}: every edit — the model’s verdict matches what the kernel did`, { skip }, async () => {
      const { runSigreturnExperiment } = await import('../src/host/sigreturn.js');
      const exp = runSigreturnExperiment(abi);
      if (exp.error) return; // no AVX: nothing observable
      const dir = mkdtempSync(join(tmpdir(), 'sigframe-sigreturn-'));
      captureHostFrames(dir);
      const live = loadFrame(join(dir, `${scenario}.json`));
      const cap = live.capture!;
      const t = stateTarget(live.decoded.state);
      const kind = frameKinds[t.kind];
      const ptr = locate(kind.struct, t.model, `${kind.sigcontext}.fpstate`);
      const at: At = {
        fx: Number(live.decoded.buf_fx! - cap.info.address),
        ptr: { offset: ptr.offset, size: ptr.size },
        size: live.decoded.sw_reserved!.xstate_size,
        foreign: exp.foreign_bit ?? 3,
      };
      assert.equal(exp.results?.length, Object.keys(edits).length);
      for (const r of exp.results ?? []) {
        const bytes = Buffer.from(cap.memory.bytes);
        // The helper's program has ymm0 live: mark YMM in use as its frame would (the ia32
        // capture only loaded xmm registers).
        bytes.writeBigUInt64LE(
          bytes.readBigUInt64LE(at.fx + imageOffset('header.xfeatures')) | XFEATURE_MASK.YMM,
          at.fx + imageOffset('header.xfeatures'),
        );
        edits[r.edit]!(bytes, at);
        const v = decodeFrame({
          memory: { address: cap.info.address, bytes },
          kind: t.kind,
          profile: loadProfileFrom(dir),
          kernel: chooseKernel(cap.info.release),
          config: { bits: 64 },
        }).verdict;
        const what = `${abi} ${r.edit}: kernel ${r.outcome}/${r.xmm0 ?? ''}/${r.ymm0_high ?? ''}, model ${v.verdict} (${v.reason})`;
        if (r.outcome !== 'survived') {
          assert.equal(r.outcome, 'signal 11', what);
          assert.equal(v.verdict, 'sigsegv', what);
          continue;
        }
        assert.notEqual(v.verdict, 'sigsegv', what);
        if (v.verdict === 'init') assert.deepEqual([r.xmm0, r.ymm0_high], ['zero', 'zero'], what);
        else {
          const ymmInit = (v.init & XFEATURE_MASK.YMM) !== 0n;
          assert.equal(r.ymm0_high, ymmInit ? 'zero' : 'restored', what);
          if (r.edit !== 'fpstate_shift16') assert.equal(r.xmm0, 'restored', what);
        }
      }
    });
  }
});
