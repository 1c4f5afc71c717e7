import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { captureHostFrames } from '../src/host/capture.js';
import { loadFrame } from '../src/io/frames.js';
import { checkDir } from './support/frames.js';
import { fixture, hostSkipReason } from './support/helpers.js';

describe('frames captured from a real kernel (test/fixtures/frames)', () => {
  const dir = fixture('frames');
  test('decode recovers the patterns the helper set; build reproduces every written byte', () => {
    assert.equal(checkDir(dir), 7);
  });

  test('an AVX2-only CPU (XCR0 0x7): frames smaller than MINSIGSTKSZ, decoded and rebuilt the same way', () => {
    const avx2 = join(dir, 'avx2');
    assert.equal(checkDir(avx2), 6);
    const rt = loadFrame(join(avx2, 'x86_64-sigusr1-vectors.json')).decoded;
    assert.equal(rt.sw_reserved?.xstate_size, 832);
    assert.equal(rt.sw_reserved?.xfeatures, 0x7n);
    assert.equal(rt.state.fpu!.xstate_bv, 0x7n);
    // 456 bytes of frame struct and gap, the 832-byte image, MAGIC2, then slack up to the top.
    const top = BigInt(loadFrame(join(avx2, 'x86_64-sigusr1-vectors.json')).capture!.info.top);
    assert.equal(Number(top - rt.frame), 1352, 'a page-aligned top: 1352 bytes, far below MINSIGSTKSZ');
    const legacy = loadFrame(join(avx2, 'ia32-legacy-sigusr1.json')).decoded;
    assert.equal(legacy.buf_fx! - legacy.frame, 852n);
    assert.equal(legacy.sw_reserved?.extended_size, 832 + 4 + 112);
  });

  test('the kernel-internal layout: uc_flags, frame alignment, the FSAVE header of ia32 frames', () => {
    const rt = loadFrame(join(dir, 'x86_64-sigusr1-vectors.json')).decoded;
    const f = rt.state.frame;
    assert.ok('uc' in f && !('pinfo' in f));
    assert.equal(BigInt(f.uc.uc_flags), 7n, 'UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS');
    assert.equal((rt.frame + 8n) % 16n, 0n);
    assert.equal(rt.fpstate - rt.frame, 456n);
    const legacy = loadFrame(join(dir, 'ia32-legacy-sigusr1.json')).decoded;
    assert.equal(legacy.fpstate - legacy.frame, 740n);
    assert.equal(legacy.buf_fx! - legacy.frame, 852n);
    assert.equal(legacy.fsave_header?.magic, 0, 'X86_FXSR_MAGIC');
    assert.equal(legacy.fsave_header?.status, legacy.state.fpu!.legacy.swd);
    const ia32rt = loadFrame(join(dir, 'ia32-rt-sigusr1.json')).decoded;
    const g = ia32rt.state.frame;
    assert.ok('pinfo' in g);
    assert.equal(BigInt(g.pinfo) - ia32rt.frame, 16n);
    assert.equal(BigInt(g.puc) - ia32rt.frame, 144n);
    assert.equal(g.uc.uc_flags, 1, 'UC_FP_XSTATE only');
    assert.equal(ia32rt.sw_reserved?.extended_size, 2432 + 4 + 112);
  });

  test('the red zone: on the normal stack the frame ends 128 bytes below the interrupted sp', () => {
    const { capture } = loadFrame(join(dir, 'x86_64-normal-stack.json'));
    const [from, to] = capture!.info.unwritten.at(-1) as [number, number];
    assert.equal(to, capture!.memory.bytes.length);
    assert.ok(to - from >= 128, 'the red zone and the slack are never written');
  });
});

describe('frames captured live on this machine', { skip: hostSkipReason() }, () => {
  test('capture, decode, rebuild', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigframe-capture-'));
    const run = captureHostFrames(dir);
    assert.ok(run.scenarios.length >= 4, run.skipped.join('; '));
    assert.equal(checkDir(dir), run.scenarios.length);
  });
});
