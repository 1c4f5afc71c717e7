import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dataModels } from '../layouts/abi.js';
import { fpstate_64 } from '../layouts/uapi.js';
import { XFEATURE, XFEATURE_MASK } from '../layouts/xfeatures.js';
import { plainDecoded, reviseDecoded } from '../src/frame/decode.js';
import { fullTagWord } from '../src/frame/fsave.js';
import { frameLayout, sigcontextOf } from '../src/frame/layout.js';
import { leValue } from '../src/frame/registers.js';
import type { FrameValue } from '../src/frame/state.js';
import { captureHostFrames } from '../src/host/capture.js';
import { writtenMask } from '../src/io/capture-file.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { toJson } from '../src/schema/json.js';
import { decode } from '../src/schema/parse.js';
import { checkDir, scenarios } from './support/frames.js';
import { cli, fixture, hostSkipReason } from './support/helpers.js';

describe('frames captured from a real kernel (test/fixtures/frames)', () => {
  const dir = fixture('frames');
  test('decode recovers the patterns the helper set; build reproduces every written byte', () => {
    assert.equal(checkDir(dir), 12);
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

  test('an AMD EPYC with PKRU, no AVX-512 (XCR0 0x207): PKRU stored in 4 of its 8 bytes, in every frame', () => {
    const pkru = join(dir, 'amd-epyc-pkru');
    assert.equal(checkDir(pkru), 12);
    for (const file of scenarios(pkru)) {
      const { decoded: d, capture } = loadFrame(file);
      if (d.buf_fx === null) continue;
      assert.ok(d.written.includes('PKRU'), `${file}: the kernel marks PKRU in every frame since 6.13`);
      // The component's bytes 4..7 are the stack's fill pattern: XSAVE never stored them.
      const slot = frameLayout(stateTarget(d.state)).image.components.get(XFEATURE.PKRU)!;
      const pad = Number(d.buf_fx - capture!.info.address) + slot.offset + 4;
      const kept = capture!.info.unwritten.some(([a, b]) => a! <= pad && pad + 4 <= b!);
      assert.ok(kept, `${file}: PKRU's upper 4 bytes are among the bytes the kernel left alone`);
    }
  });

  test('an Intel Xeon with AMX (XCR0 0x600e7): live tiles saved and read back; after TILERELEASE the 8 KiB stay reserved and unwritten', () => {
    const amx = join(dir, 'intel-xeon-amx');
    assert.equal(checkDir(amx), 17);
    const tiles = loadFrame(join(amx, 'x86_64-amx-tiles.json')).decoded;
    const init = loadFrame(join(amx, 'x86_64-amx-tiles-init.json'));
    const plain = loadFrame(join(amx, 'x86_64-sigusr1-vectors.json')).decoded;
    assert.equal(tiles.state.fpu!.xstate_bv & XFEATURE_MASK.XTILE, XFEATURE_MASK.XTILE);
    assert.equal(tiles.registers?.tmm?.length, 8);
    // Both frames of a thread that used AMX carry the task's full user_size; one that never asked does not.
    const full = frameLayout(stateTarget(tiles.state)).image;
    assert.equal(tiles.sw_reserved?.xstate_size, full.userSize);
    assert.equal(init.decoded.sw_reserved?.xstate_size, full.userSize);
    const tiledata = full.components.get(XFEATURE.XTILE_DATA)!;
    assert.equal(
      plain.sw_reserved?.xstate_size,
      full.userSize - tiledata.size,
      'no tile region without AMX use',
    );
    assert.equal(init.decoded.state.fpu!.xstate_bv & XFEATURE_MASK.XTILE, 0n);
    const base = Number(init.decoded.buf_fx! - init.capture!.info.address);
    for (const nr of [XFEATURE.XTILE_CFG, XFEATURE.XTILE_DATA]) {
      const c = frameLayout(stateTarget(init.decoded.state)).image.components.get(nr)!;
      const [a, b] = [base + c.offset, base + c.offset + c.size];
      assert.ok(
        init.capture!.info.unwritten.some(([x, y]) => x! <= a && b <= y!),
        `component ${nr} (${c.size} bytes at ${c.offset}) left as the stack was`,
      );
    }
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

  test('ia32: registers.st are the FSAVE header’s, which rt_sigreturn loads (the image’s copy is ignored)', () => {
    for (const name of ['ia32-rt-sigusr1.json', 'ia32-legacy-sigusr1.json']) {
      const d = loadFrame(join(dir, name)).decoded;
      assert.deepEqual(d.registers!.st, d.fsave_header!.st_space.map(leValue));
      assert.equal(d.verdict.x87?.source, 'fsave-header');
      assert.equal(d.verdict.x87?.address, d.fpstate);
    }
  });

  test('x87 registers in use (Intel guest): the FSAVE header’s full tag word is what the kernel derives from the abridged one', () => {
    const amx = join(dir, 'intel-xeon-amx');
    for (const name of [
      'ia32-rt-sigusr1-x87.json',
      'ia32-legacy-sigusr1-x87.json',
      'x86_64-sigusr1-x87.json',
    ]) {
      const { decoded: d, capture } = loadFrame(join(amx, name));
      const loaded = capture!.info.patterns.st!.length;
      const legacy = d.state.fpu!.legacy;
      // FXSAVE's abridged tag: one bit per physical register in use, from TOP upwards.
      const top = (legacy.swd >> 11) & 7;
      assert.equal(top, 8 - loaded, name);
      assert.equal(legacy.twd, ((1 << loaded) - 1) << top, name);
      if (!d.fsave_header) continue;
      const bytes = capture!.memory.bytes;
      const fx = Number(d.buf_fx! - capture!.info.address);
      const full = fullTagWord(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), fx);
      assert.equal(d.fsave_header.twd, full, `${name}: the kernel's tag word`);
      // Every class but empty appears among the registers in use: valid (0), zero (1), special (2).
      const tags = Array.from({ length: loaded }, (_, i) => (full >>> (2 * (top + i))) & 3);
      assert.deepEqual([...new Set(tags)].sort(), [0, 1, 2], name);
    }
  });

  test('the red zone: on the normal stack the frame ends 128 bytes below the interrupted sp', () => {
    const { capture } = loadFrame(join(dir, 'x86_64-normal-stack.json'));
    const [from, to] = capture!.info.unwritten.at(-1) as [number, number];
    assert.equal(to, capture!.memory.bytes.length);
    assert.ok(to - from >= 128, 'the red zone and the slack are never written');
  });
});

describe('parts of a decoded frame made on first read (the state, sw_reserved, the registers)', () => {
  test('its JSON holds every part, read or not; the state is a plain object; plainDecoded() is for spreads', () => {
    const file = fixture('frames', 'x86_64-sigusr1-vectors.json');
    const a = loadFrame(file).decoded;
    const b = loadFrame(file).decoded;
    // Serialised before anything was read, and after: the same text.
    const before = toJson(a);
    void b.registers;
    void b.state.fpu!.components.ZMM_Hi256;
    assert.equal(before, toJson(b));
    const keys = Object.keys(JSON.parse(before));
    assert.deepEqual(keys.slice(0, 1), ['state']);
    assert.ok(keys.includes('registers') && keys.includes('sw_reserved'));
    // A spread sees the own members only; plainDecoded() gives every part, in the JSON's order.
    assert.equal('state' in { ...a }, false);
    assert.deepEqual(Object.keys(plainDecoded(a)), keys);
    assert.equal(toJson(plainDecoded(a)), before);
    assert.equal(a.xstate_bv, a.state.fpu!.xstate_bv);
    assert.equal(a.xstate_bv, 0xe7n);
    assert.deepEqual(Object.keys(a.state.fpu!.components), ['YMM', 'OPMASK', 'ZMM_Hi256', 'Hi16_ZMM']);
    const clone = structuredClone(a.state);
    assert.equal(toJson(clone), toJson(a.state));
    assert.equal(a.registers!.zmm!.length, 32);
    // The ymm registers are xmm with YMM's upper halves: the decoded component feeds them.
    const ymmh = a.state.fpu!.components.YMM!.ymmh_space[3]!;
    assert.equal(a.registers!.ymm![3]! >> 128n, leValue(ymmh));
    // The state is the caller's to edit, as any object (convert and hand edits do this).
    const c = loadFrame(file).decoded;
    const edited = { ...c.state.fpu!.components.OPMASK!, opmask_reg: Array(8).fill(0n) };
    c.state.fpu!.components.OPMASK = edited;
    assert.equal(c.state.fpu!.components.OPMASK, edited);
  });
});

describe('parts of a decoded frame made on first read: made once, shared with revisions, as an eager decode reads them', () => {
  test('a revised decode shares them; the frame struct and FXSAVE image read as binary-parser decodes them', () => {
    const file = fixture('frames', 'x86_64-sigusr1-vectors.json');
    const d = loadFrame(file).decoded;
    const r = reviseDecoded(d, { notes: [...d.notes, 'revised'] });
    assert.deepEqual(Object.keys(r), Object.keys(d));
    assert.deepEqual(r.notes.at(-1), 'revised');
    const s = r.state;
    assert.equal(r.state, s, 'made once');
    assert.equal(d.state, s, 'shared with the decode it revises');
    assert.equal(d.registers, r.registers);
    // What they read as: the frame struct and image binary-parser decodes from the capture's bytes.
    const { capture } = loadFrame(file);
    const t = stateTarget(s);
    const l = frameLayout(t);
    const mem = capture!.memory;
    const at = Number(r.frame - mem.address);
    const eager = decode(l.kind.struct, t.model, mem.bytes, at) as FrameValue;
    // Every member but the reserved words, which the kernel never writes and a decode reads as 0.
    const { reserved1, ...own } = sigcontextOf(s.frame, s.kind);
    const { reserved1: stale, ...raw } = sigcontextOf(eager, s.kind);
    assert.equal(toJson(own), toJson(raw));
    assert.deepEqual([toJson(reserved1), stale !== undefined], [toJson(Array(8).fill(0n)), true]);
    const fx = decode(fpstate_64, dataModels.lp64, mem.bytes, Number(r.buf_fx! - mem.address));
    assert.equal(toJson(s.fpu!.legacy.xmm_space), toJson(fx.xmm_space));
    assert.equal(toJson({ ...plainDecoded(r), notes: d.notes }), toJson(d));
  });
});

describe('SS_AUTODISARM and nested frames (a signal raised in a handler)', () => {
  const dir = fixture('frames');
  const at = (name: string) => loadFrame(join(dir, `${name}.json`));
  test('the alt stack as the frame records it: SS_ONSTACK|SS_AUTODISARM is a flag word, not −2147483647', () => {
    const d = at('x86_64-autodisarm').decoded;
    assert.equal(d.state.delivery.altstack?.flags, 0x80000001);
    const r = cli('decode', join(dir, 'x86_64-autodisarm.json'));
    assert.match(r.stdout, /uc_stack sp 0x[0-9a-f]+ size 61440 flags 0x80000001/);
  });
  test('a nested frame sits below the handler it interrupted; SS_AUTODISARM took the alt stack away from it', () => {
    const nested = at('x86_64-nested');
    const disarmed = at('x86_64-nested-autodisarm');
    for (const { decoded, capture } of [nested, disarmed]) {
      const sp = capture!.info.sp!;
      assert.ok(decoded.frame < sp - 128n, 'below the red zone of the interrupted handler');
    }
    assert.equal(nested.decoded.state.delivery.onstack, true);
    assert.equal(disarmed.decoded.state.delivery.altstack, undefined, 'uc_stack says SS_DISABLE');
    assert.equal(at('ia32-rt-nested-autodisarm').decoded.state.delivery.altstack, undefined);
  });
  test('decode --json is input build, map and diff accept, and build gives back the kernel’s bytes', () => {
    const out = mkdtempSync(join(tmpdir(), 'sigframe-nested-'));
    for (const name of ['x86_64-autodisarm', 'x86_64-nested-autodisarm', 'ia32-legacy-nested']) {
      const state = join(out, `${name}.state.json`);
      writeFileSync(state, cli('decode', join(dir, `${name}.json`), '--json').stdout);
      const bin = join(out, `${name}.bin`);
      assert.equal(cli('build', state, '--out', bin).code, 0, name);
      assert.equal(cli('map', state).code, 0, name);
      assert.equal(cli('diff', state, state).code, 0, name);
      const { capture } = at(name);
      const mask = writtenMask(capture!.info, capture!.memory.bytes.length);
      const built = readFileSync(bin);
      assert.equal(built.length, capture!.memory.bytes.length);
      assert.ok(
        built.every((b, i) => !mask[i] || b === capture!.memory.bytes[i]),
        `${name}: every byte the kernel wrote`,
      );
    }
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
