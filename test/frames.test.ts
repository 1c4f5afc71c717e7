import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { frameKinds } from '../layouts/frames.js';
import { buildFrame } from '../src/frame/build.js';
import { type DecodedFrame, decodeFrame } from '../src/frame/decode.js';
import { imageOffset, sigcontextOf } from '../src/frame/layout.js';
import { frameReader } from '../src/frame/reader.js';
import { leValue } from '../src/frame/registers.js';
import { frameTarget } from '../src/frame/target.js';
import { captureHostFrames } from '../src/host/capture.js';
import { emulatedCpu } from '../src/host/probe.js';
import { type CaptureInfo, loadCapture, writtenMask } from '../src/io/capture-file.js';
import { loadFrame, stateTarget } from '../src/io/frames.js';
import { loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { profileFromDump } from '../src/profile/dump.js';
import { DecodeError, SigframeError } from '../src/schema/errors.js';
import { locate } from '../src/schema/layout.js';
import { bit } from '../src/xsave/catalog.js';
import { fixture, hostSkipReason, sprState, targetSkipReason } from './helpers.js';

function scenarios(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'host-profile.json')
    .map((f) => join(dir, f));
}

/** Everything a capture says the helper set must come back out of the decoded frame. */
function checkPatterns(d: DecodedFrame, info: CaptureInfo) {
  const f = d.state.frame;
  const sc = sigcontextOf(f, info.kind);
  for (const [reg, value] of Object.entries(info.patterns.gpr)) {
    const want = info.kind === 'x86_64' ? value : value & 0xffffffffn;
    assert.equal(BigInt(sc[reg]!), want, `${info.scenario}: ${reg}`);
  }
  const r = d.registers!;
  const width = info.patterns.vector_width;
  const regs = width === 64 ? r.zmm : width === 32 ? r.ymm : r.xmm;
  for (const [i, v] of info.patterns.vectors.entries())
    assert.equal(regs![i], leValue(v), `${info.scenario}: vector ${i}`);
  if (info.patterns.k.length > 0) assert.deepEqual(r.k, info.patterns.k);
  if ('info' in f) assert.equal(f.info.si_signo, info.signal);
  if (info.fault_address !== undefined) {
    assert.equal(BigInt(sc.cr2!), info.fault_address);
    assert.equal(Number(sc.trapno), 14, 'page fault');
    if ('info' in f) {
      const addr =
        info.kind === 'x86_64'
          ? Buffer.from(f.info._sifields).readBigUInt64LE(0)
          : BigInt(Buffer.from(f.info._sifields).readUInt32LE(0));
      assert.equal(addr, info.fault_address, 'si_addr');
    }
  }
  // XSTATE_BV: FP and SSE always; what XRSTOR put into INIT is not marked in use — by a CPU: an
  // emulator that keeps no XINUSE marks everything in use.
  const bv = d.state.fpu!.xstate_bv;
  assert.equal(bv & 3n, 3n);
  if (info.cpu_emulator === undefined) assert.equal(bv & info.init_mask, 0n);
  assert.equal(d.verdict.verdict, 'full', d.verdict.reason);
  assert.equal(d.sw_reserved?.magic1, 0x46505853);
}

/**
 * build(decode(frame)) writes exactly the bytes the kernel wrote, and nothing it left alone. On an
 * emulated CPU the emulator's XSAVE decides which bytes of the image it writes (QEMU's TCG skips
 * FOP and the reserved bytes of the register slots), so there the mask is held to the kernel's
 * own writes only, and the image to its bytes.
 */
function checkRebuild(d: DecodedFrame, info: CaptureInfo, bin: Uint8Array) {
  const t = stateTarget(d.state);
  const b = buildFrame(d.state, t);
  assert.equal(b.address, info.address, 'frame address');
  assert.equal(b.top, info.top, 'top');
  assert.equal(b.bytes.length, bin.length);
  const kernel = writtenMask(info, bin.length);
  const image = d.buf_fx === null ? -1 : Number(d.buf_fx - info.address);
  const emulatedImage = (i: number) =>
    info.cpu_emulator !== undefined &&
    image >= 0 &&
    i >= image &&
    i < image + (d.sw_reserved?.xstate_size ?? 512);
  let firstMask = -1;
  let firstByte = -1;
  for (let i = 0; i < bin.length; i++) {
    if (firstMask < 0 && kernel[i] !== b.written[i] && !emulatedImage(i)) firstMask = i;
    if (firstByte < 0 && kernel[i] && bin[i] !== b.bytes[i]) firstByte = i;
  }
  assert.equal(
    firstMask,
    -1,
    `${info.scenario}: written mask differs from the kernel's first at offset ${firstMask}`,
  );
  assert.equal(
    firstByte,
    -1,
    `${info.scenario}: byte ${firstByte} differs (kernel ${bin[firstByte]}, built ${b.bytes[firstByte]})`,
  );
  assert.ok(
    kernel.some((x) => x === 0),
    'the kernel leaves some bytes alone in every frame',
  );
}

function checkDir(dir: string) {
  const files = scenarios(dir);
  assert.ok(files.length >= 4, `captures in ${dir}`);
  for (const file of files) {
    const { decoded, capture } = loadFrame(file);
    checkPatterns(decoded, capture!.info);
    checkRebuild(decoded, capture!.info, capture!.memory.bytes);
  }
  return files.length;
}

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
      verdictOf((b, fp) => b.writeBigUInt64LE(0xe7n | bit(9), fp + imageOffset('header.xfeatures'))).reason,
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
    assert.equal(v.init & bit(2), bit(2), 'YMM to INIT');
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
    assert.equal(b.rfbm & bit(18), 0n);
  });

  test('after AMX use with tiles in INIT: 8 KiB reserved but unwritten, XSTATE_BV bits clear', () => {
    const { b } = build('used', false);
    const buf = Number(b.placement.bufFx - b.address);
    assert.equal(b.xstateBv & (bit(17) | bit(18)), 0n);
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
    assert.equal(b.xstateBv & (bit(17) | bit(18)), bit(17) | bit(18));
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
    assert.match(none.verdict.reason, /xstate_size 11008 > the task's user_size 2816/);
  });
});

describe('the compiled reader (frameReader) against decodeFrame', () => {
  test('every captured frame: the same sigcontext, sw_reserved, XSTATE_BV and component offsets', () => {
    for (const file of scenarios(fixture('frames'))) {
      const { decoded: d, capture } = loadFrame(file);
      const reader = frameReader(stateTarget(d.state));
      const bytes = capture!.memory.bytes;
      const at = Number(d.frame - capture!.info.address);
      // Aligned as the kernel aligns frames (typed arrays), and one byte off (the DataView path).
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      for (const [input, start] of [
        [bytes, at],
        [shifted, at + 1],
      ] as const) {
        const r = reader.read(input, d.frame, start);
        const f = d.state.frame;
        const sc = sigcontextOf(f, d.state.kind);
        for (const [name, v] of Object.entries(r.sigcontext))
          assert.equal(BigInt(v), BigInt(sc[name]!), `${file}: ${name}`);
        assert.equal(r.bufFx, Number(d.buf_fx! - d.frame), file);
        const sw = d.sw_reserved!;
        assert.deepEqual(
          { ...r.swReserved },
          {
            magic1: sw.magic1,
            extended_size: sw.extended_size,
            xfeatures: BigInt(sw.xfeatures),
            xstate_size: sw.xstate_size,
          },
        );
        const bv = d.state.fpu!.xstate_bv;
        assert.equal(r.xstateBv, bv, file);
        for (const [nr, c] of reader.layout.image.components) {
          assert.equal(
            r.components[c.name],
            (bv >> BigInt(nr)) & 1n ? r.bufFx + c.offset : -1,
            `${file}: ${c.name}`,
          );
        }
        const file2 = reader.registerFile();
        reader.readInto(input, d.frame, file2, start);
        assert.equal(file2.u64[reader.slots.u64.xstate_bv!], bv);
        assert.equal(file2.num[reader.slots.num.buf_fx!], r.bufFx);
      }
    }
  });

  test('misuse is a DecodeError saying what: a fractional start, a short input, another reader’s file', () => {
    const { decoded: d, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const reader = frameReader(stateTarget(d.state));
    const bytes = capture!.memory.bytes;
    assert.throws(() => reader.read(bytes, d.frame, 1.5), /start 1\.5 is not a byte offset/);
    const padded = new Uint8Array(100 + 239);
    padded.set(bytes.subarray(0, 239), 100);
    assert.throws(
      () => reader.read(padded, d.frame, 100),
      (e: unknown) =>
        e instanceof DecodeError && /at byte 100 needs 240 bytes/.test(e.message) && e.where.offset === 339,
    );
    const cut = new Uint8Array(100 + 978); // sw_reserved inside, the XSAVE header not
    cut.set(bytes.subarray(0, 978), 100);
    assert.throws(
      () => reader.read(cut, d.frame, 100),
      (e: unknown) =>
        e instanceof DecodeError &&
        /^xsave_header: bytes 1068\.\.1132 are outside the 1078-byte input/.test(e.message) &&
        e.where.offset === 1068,
    );
    const ia32 = loadFrame(fixture('frames', 'ia32-rt-sigusr1.json')).decoded;
    const other = frameReader(stateTarget(ia32.state)).registerFile();
    assert.throws(
      () => reader.readInto(bytes, d.frame, other),
      /register file is not this reader's \(made for ia32-rt/,
    );
  });

  test('truncations, bit flips and garbage: fields or a DecodeError with the offset, nothing else', () => {
    const { decoded: d, capture } = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json'));
    const reader = frameReader(stateTarget(d.state));
    let errors = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: capture!.memory.bytes.length }),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 16 }),
        fc.integer({ min: 0, max: 7 }),
        (len, flips, shift) => {
          const bytes = new Uint8Array(len + shift);
          bytes.set(capture!.memory.bytes.subarray(0, len), shift);
          for (const f of flips) if (len > 0) bytes[shift + (f.at % len)] = f.value;
          try {
            const r = reader.read(bytes, d.frame, shift);
            for (const o of Object.values(r.components)) assert.ok(o === -1 || (o >= 0 && o < len));
          } catch (e) {
            errors++;
            assert.ok(e instanceof DecodeError && e.where.offset !== undefined, `unexpected ${String(e)}`);
          }
        },
      ),
    );
    assert.ok(errors > 0, 'some inputs were too short');
  });
});

describe('bad input never crashes the decoder', () => {
  const file = fixture('frames', 'x86_64-sigusr1-vectors.json');
  const base = loadFrame(file).capture!;
  const profile = loadBuiltinProfile('amd-epyc-zen4-kvm');
  const kernel = chooseKernel('6.18');
  const decodeBytes = (bytes: Uint8Array, kind: keyof typeof frameKinds = 'x86_64') =>
    decodeFrame({
      memory: { address: base.info.address, bytes },
      kind,
      profile,
      kernel,
      config: { bits: 64 },
    });

  test('a truncated frame: a DecodeError naming the member and byte offset', () => {
    assert.throws(
      () => decodeBytes(base.memory.bytes.subarray(0, 100)),
      (e: unknown) =>
        e instanceof SigframeError &&
        /uc\.uc_mcontext\.\w+: input ends at byte 100/.test(e.message) &&
        e.where.offset === 100,
    );
  });

  test('random truncations, bit flips and garbage: typed errors or a verdict, never anything else', () => {
    const kinds = Object.keys(frameKinds) as (keyof typeof frameKinds)[];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: base.memory.bytes.length }),
        fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 16 }),
        fc.constantFrom(...kinds),
        (len, flips, kind) => {
          const bytes = Uint8Array.from(base.memory.bytes.subarray(0, len));
          for (const f of flips) if (bytes.length > 0) bytes[f.at % bytes.length] = f.value;
          try {
            const d = decodeBytes(bytes, kind);
            assert.ok(['full', 'fx-only', 'init', 'sigsegv'].includes(d.verdict.verdict));
          } catch (e) {
            assert.ok(e instanceof SigframeError, `unexpected ${String(e)}`);
          }
        },
      ),
    );
  });

  test('a capture whose .bin does not match its description is bad input', () => {
    const info = JSON.parse(readFileSync(file, 'utf8'));
    assert.throws(
      () => loadCapture({ ...info, top: '0x1' }, base.memory.bytes, 'x.json'),
      /holds 2952 bytes, but address\.\.top spans/,
    );
    assert.throws(
      () => loadCapture({ ...info, unwritten: [[10, 5]] }, base.memory.bytes, 'x.json'),
      /unwritten\[0\] is not a range/,
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
          bytes.readBigUInt64LE(at.fx + imageOffset('header.xfeatures')) | bit(2),
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
          const ymmInit = (v.init & bit(2)) !== 0n;
          assert.equal(r.ymm0_high, ymmInit ? 'zero' : 'restored', what);
          if (r.edit !== 'fpstate_shift16') assert.equal(r.xmm0, 'restored', what);
        }
      }
    });
  }
});

function loadProfileFrom(dir: string) {
  return profileFromDump(readFileSync(join(dir, 'host-profile.json'), 'utf8'), 'host-profile.json');
}
