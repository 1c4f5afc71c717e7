/** Checks every captured-frame test shares: patterns recovered, bytes rebuilt, the written mask. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { buildFrame } from '../../src/frame/build.js';
import type { DecodedFrame } from '../../src/frame/decode.js';
import { sigcontextOf } from '../../src/frame/layout.js';
import { leValue } from '../../src/frame/registers.js';
import { type CaptureInfo, writtenMask } from '../../src/io/capture-file.js';
import { loadFrame, stateTarget } from '../../src/io/frames.js';
import { profileFromDump } from '../../src/profile/dump.js';

export function scenarios(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'host-profile.json')
    .map((f) => join(dir, f));
}

/** Everything a capture says the helper set must come back out of the decoded frame. */
export function checkPatterns(d: DecodedFrame, info: CaptureInfo) {
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
  for (const [i, v] of (info.patterns.st ?? []).entries())
    assert.equal(r.st?.[i], leValue(v), `${info.scenario}: st${i}`);
  const cfg = info.patterns.tilecfg;
  if (cfg) {
    const c = r.tilecfg;
    assert.ok(c, `${info.scenario}: TILECFG decoded`);
    assert.equal(c.palette_id, cfg[0], `${info.scenario}: palette`);
    const u16 = (i: number) => cfg[16 + 2 * i]! | (cfg[17 + 2 * i]! << 8);
    assert.deepEqual(
      c.colsb,
      Array.from({ length: 16 }, (_, i) => u16(i)),
      `${info.scenario}: colsb`,
    );
    assert.deepEqual(c.rows, Array.from(cfg.subarray(48, 64)), `${info.scenario}: rows`);
  }
  for (const [i, t] of (info.patterns.tmm ?? []).entries())
    assert.equal(r.tmm?.[i], leValue(t), `${info.scenario}: tmm${i}`);
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
  assert.equal(bv & XFEATURE_MASK.FPSSE, XFEATURE_MASK.FPSSE);
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
export function checkRebuild(d: DecodedFrame, info: CaptureInfo, bin: Uint8Array) {
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

export function checkDir(dir: string) {
  const files = scenarios(dir);
  assert.ok(files.length >= 4, `captures in ${dir}`);
  for (const file of files) {
    const { decoded, capture } = loadFrame(file);
    checkPatterns(decoded, capture!.info);
    checkRebuild(decoded, capture!.info, capture!.memory.bytes);
  }
  return files.length;
}

export function loadProfileFrom(dir: string) {
  return profileFromDump(readFileSync(join(dir, 'host-profile.json'), 'utf8'), 'host-profile.json');
}
