import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ELF } from '../layouts/core.js';
import { type ElfCore, readElfCore } from '../src/core/elf.js';
import type { CoreReport, CoreThread } from '../src/core/report.js';
import { stripCore } from '../src/core/strip.js';
import type { CorecaseInfo, CorecasePatterns } from '../src/host/core.js';
import { openCore, readCoreFile } from '../src/io/core-file.js';
import { loadProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { atMinsigstksz } from '../src/kernel/signal.js';
import { systemTarget } from '../src/kernel/system.js';
import { DecodeError } from '../src/schema/errors.js';
import { amxSkipReason, cli, fixture, hostSkipReason } from './support/helpers.js';

// Cores the kernel (and gdb's gcore) wrote of native/corecase.c: a thread spinning with known
// registers, and the main thread's SIGUSR1 frame on its alt stack, holding the main thread's
// patterns. Stripped to the notes and the stack segments (scripts/strip-core.ts); corecase.json
// says what every register held. test/fixtures/cores/README.md says which CPU and kernel.
const dir = fixture('cores');
const cases = readdirSync(dir).filter((d) => existsSync(join(dir, d, 'core')));
const info = (name: string) =>
  JSON.parse(readFileSync(join(dir, name, 'corecase.json'), 'utf8')) as CorecaseInfo;
const kernel = chooseKernel('6.18');
const config = { bits: 64 as const };
const report = (path: string, o: { thread?: number } = {}) => readCoreFile(path, { kernel, config, ...o });

/** corecase prints vectors as bytes in memory order; sigframe shows registers as little-endian numbers. */
const le = (hex: string) => BigInt(`0x${Buffer.from(hex, 'hex').reverse().toString('hex') || '0'}`);

function vectorsOf(
  regs: { xmm?: bigint[]; ymm?: bigint[]; zmm?: bigint[] },
  mode: CorecaseInfo['vector_mode'],
) {
  return mode === 'zmm' ? regs.zmm : mode === 'ymm' ? regs.ymm : regs.xmm;
}

function assertPatterns(
  where: string,
  regs: Readonly<Record<string, bigint>>,
  vec: { xmm?: bigint[]; ymm?: bigint[]; zmm?: bigint[]; k?: bigint[] } | undefined,
  p: CorecasePatterns,
  mode: CorecaseInfo['vector_mode'],
) {
  for (const [name, value] of Object.entries(p.gpr))
    assert.equal(regs[name], BigInt(value), `${where}: ${name}`);
  const got = vec ? vectorsOf(vec, mode) : undefined;
  assert.ok(got, `${where}: no ${mode} registers`);
  assert.equal(got.length >= p.vectors.length, true, `${where}: ${got.length} ${mode} registers`);
  for (const [i, v] of p.vectors.entries()) assert.equal(got[i], le(v), `${where}: ${mode}${i}`);
  if (p.k.length) assert.deepEqual(vec?.k, p.k.map(BigInt), `${where}: k0..k7`);
}

function sigcontextRegs(f: CoreThread['frames'][number]): Record<string, bigint> {
  const fr = f.state.frame as Record<string, unknown>;
  const sc = (fr.sc ?? (fr.uc as { uc_mcontext: unknown }).uc_mcontext) as Record<string, number | bigint>;
  return Object.fromEntries(
    Object.entries(sc).flatMap(([k, v]) =>
      typeof v === 'bigint' || typeof v === 'number' ? [[k, BigInt(v)]] : [],
    ),
  );
}

/**
 * The components gdb has registers for, and so writes into a gcore's NT_X86_XSTATE
 * (X86_XSTATE_ALL_MASK, gdbsupport/x86-xstate.h, gdb 13): x87, SSE, AVX, MPX, AVX-512, PKRU.
 */
const GDB_XSTATE_ALL_MASK = 0x2ffn;

/** Everything corecase promises about a core, held against what `sigframe core` reads from it. */
function checkCore(r: CoreReport, i: CorecaseInfo, o: { gcore: boolean; emulated: boolean }) {
  assert.equal(r.machine, i.abi === 'x86_64' ? 'x86_64' : 'i386');
  // gcore states the XCR0 of the image it writes: the CPU's, less what gdb has no registers for.
  assert.equal(r.xsave_layout.xcr0, BigInt(i.xcr0) & (o.gcore ? GDB_XSTATE_ALL_MASK : ~0n));
  const byTid = new Map(r.threads.map((t) => [t.tid, t]));
  assert.deepEqual([...byTid.keys()].sort(), [i.tids.main, i.tids.thread].sort());

  const spinner = byTid.get(i.tids.thread)!;
  const ip = spinner.registers.ip!;
  assert.ok(
    ip >= BigInt(i.thread.spin.start) && ip < BigInt(i.thread.spin.end),
    'the thread is in its spin loop',
  );
  assert.equal(spinner.registers.sp, BigInt(i.thread.sp));
  // gdb 13's gcore writes AMD AVX-512 state at Intel's offsets: only what both share survives.
  const mode = o.gcore && i.vector_mode === 'zmm' ? 'ymm' : i.vector_mode;
  const p =
    mode === i.vector_mode
      ? i.thread
      : { ...i.thread, vectors: i.thread.vectors.slice(0, 16).map((v) => v.slice(0, 64)), k: [] };
  assertPatterns(
    'spinning thread (NT_PRSTATUS, NT_X86_XSTATE)',
    spinner.registers,
    spinner.xstate?.registers,
    p,
    mode,
  );

  const main = byTid.get(i.tids.main)!;
  assert.equal(main.frames.length, 1, 'one signal frame in progress on the main thread');
  const f = main.frames[0]!;
  assert.equal(f.address, BigInt(i.handler.frame));
  assert.equal(f.kind, i.abi === 'x86_64' ? 'x86_64' : 'ia32-rt');
  assert.equal(f.fpstate, BigInt(i.handler.fpstate));
  const regs = sigcontextRegs(f);
  assert.equal(regs.ip, BigInt(i.handler.ip));
  assert.equal(regs.sp, BigInt(i.handler.sp));
  assertPatterns('SIGUSR1 frame', regs, f.registers ?? undefined, i.main, i.vector_mode);
  if (i.tiles) {
    // The tiles each thread loaded: the spinner's in its NT_X86_XSTATE, main's in its frame.
    const cfg = Buffer.from(i.tiles.cfg, 'hex');
    for (const [where, got, want] of [
      ['spinning thread', spinner.xstate?.registers, i.tiles.thread],
      ['SIGUSR1 frame', f.registers, i.tiles.main],
    ] as const) {
      assert.equal(got?.tilecfg?.palette_id, cfg[0], `${where}: palette`);
      assert.deepEqual(got?.tmm, want.map(le), `${where}: tmm0..7`);
    }
    assert.equal(f.sw_reserved?.xstate_size, r.xsave_layout.size, 'an AMX frame carries the whole image');
  }
  assert.equal(f.verdict.verdict, 'full', f.verdict.reason);
  assert.equal(f.verdict.resumes?.ip, BigInt(i.handler.ip));
  // The alt stack: where the frame sat, how much it took, against the crashed process's AT_MINSIGSTKSZ.
  assert.equal(f.altstack.onstack, true);
  assert.equal(f.altstack.ss_sp, BigInt(i.altstack.sp));
  assert.equal(f.altstack.ss_size, BigInt(i.altstack.size));
  assert.equal(f.altstack.fits, true);
  assert.equal(f.altstack.used! + f.altstack.headroom!, BigInt(i.altstack.size));
  const si = f.siginfo as { si_signo: number; si_code: number; si_pid?: number } | undefined;
  assert.equal(si?.si_signo, i.signal);
  assert.equal(si?.si_code, i.si_code);
  assert.equal(si?.si_pid, i.pid);
  // The signal that dumped: SIGABRT from abort(), raised with tgkill by the process itself.
  const dumped = main.siginfo as { si_signo: number; si_pid?: number };
  assert.equal(dumped.si_signo, i.abort_signal);
  assert.equal(dumped.si_pid, i.pid);

  // The kernel's AT_MINSIGSTKSZ for the core's layout (the model) against the process's aux
  // vector: it agrees for the kernel's cores; gcore's own image (Intel-sized on an AMD CPU,
  // without AMX's TILECFG on an AMX CPU) does not when its size is not the frame's.
  const m = r.xsave_layout.at_minsigstksz;
  assert.ok(m, 'AT_MINSIGSTKSZ compared');
  assert.equal(m.auxv, Number(r.auxv.AT_MINSIGSTKSZ));
  const foreignGcore = o.gcore && r.xsave_layout.size !== f.sw_reserved?.xstate_size;
  assert.equal(m.agrees, !foreignGcore);
  if (foreignGcore)
    assert.match(r.warnings.join('\n'), /gives AT_MINSIGSTKSZ \d+, the process's aux vector says \d+/);
  // A frame read by a layout of its own (inferred from the frame) agrees with the aux vector too.
  if (f.state.profile !== r.xsave_layout.profile) {
    const fk = systemTarget(loadProfile(f.state.profile), kernel, config).k;
    assert.equal(atMinsigstksz(fk, kernel.era, config), m.auxv);
  }
}

describe('sigframe core: committed cores', () => {
  test('there are kernel cores of an AVX-512 and an AVX2-only CPU, x86_64 and i386, and a gcore', () => {
    const kinds = cases.map((c) => `${info(c).vector_mode}/${info(c).abi}`);
    for (const k of ['zmm/x86_64', 'zmm/ia32', 'ymm/x86_64', 'ymm/ia32']) assert.ok(kinds.includes(k), k);
    assert.ok(cases.some((c) => c.endsWith('gcore')));
  });

  for (const name of cases) {
    test(name, () => {
      const path = join(dir, name, 'core');
      assert.ok(readFileSync(path).length < 1 << 20, 'fixtures stay under 1 MB');
      const i = info(name);
      const r = report(path);
      const gcore = name.endsWith('gcore');
      assert.equal(r.xsave_layout.source, gcore ? 'inferred' : 'note');
      checkCore(r, i, { gcore, emulated: name.startsWith('avx2') });
      // --thread picks one thread.
      const one = report(path, { thread: i.tids.thread });
      assert.deepEqual(
        one.threads.map((t) => t.tid),
        [i.tids.thread],
      );
    });
  }

  test('a stripped core reads back note for note', () => {
    const path = join(dir, cases[0]!, 'core');
    const { core, close } = openCore(path);
    try {
      const again = readElfCore(source(stripCore(core, () => true)));
      assert.deepEqual(
        again.notes.map((n) => [n.owner, n.type, Buffer.from(n.desc).toString('hex')]),
        core.notes.map((n) => [n.owner, n.type, Buffer.from(n.desc).toString('hex')]),
      );
      assert.equal(again.segments.length, core.segments.length);
    } finally {
      close();
    }
  });
});

const source = (b: Uint8Array) => ({ size: b.length, read: (o: number, l: number) => b.slice(o, o + l) });

describe('sigframe core: bad cores', () => {
  const good = readFileSync(join(dir, 'zen4-x86_64', 'core'));
  const { core } = ((): { core: ElfCore } => ({ core: readElfCore(source(good)) }))();
  const note = core.segments.find((s) => s.type === ELF.PT_NOTE)!;
  const phoff = Number(good.readBigUInt64LE(32));
  const phdrAt = (i: number) => phoff + i * 56;

  const rejects = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(
      () => readElfCore(source(bytes)),
      (e: unknown) => e instanceof DecodeError && pattern.test(e.message),
    );

  test('not ELF, not a core, not x86', () => {
    rejects(new Uint8Array(100).fill(0x41), /not an ELF file: bytes 0\.\.3 are 41 41 41 41/);
    const exec = Buffer.from(good);
    exec.writeUInt16LE(2, 16);
    rejects(exec, /e_type is 2: not a core file/);
    const arm = Buffer.from(good);
    arm.writeUInt16LE(183, 18);
    rejects(arm, /e_machine is 183/);
  });

  test('a truncated core: the notes cut off, or memory missing', () => {
    rejects(good.subarray(0, note.offset + 100), /PT_NOTE segment \d+ .* runs past the end of the file/);
    const lastLoad = [...core.segments].reverse().find((s) => s.type === ELF.PT_LOAD && s.filesz > 0)!;
    const cut = readElfCore(source(good.subarray(0, lastLoad.offset + 10)));
    assert.match(
      cut.warnings.join('\n'),
      new RegExp(`PT_LOAD segment ${lastLoad.index} .*holds 10 of its bytes`),
    );
  });

  test('a note larger than its segment, or than the file', () => {
    const big = Buffer.from(good);
    big.writeUInt32LE(0x7fffffff, note.offset + 4);
    rejects(big, /note 0 \(type 0x1\) at file offset 0x[0-9a-f]+: .* run past the end of PT_NOTE segment/);
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(1n << 40n, phdrAt(note.index) + 32);
    rejects(huge, /PT_NOTE segment \d+ .* runs past the end of the file/);
  });

  test('overlapping segments', () => {
    const loads = core.segments.filter((s) => s.type === ELF.PT_LOAD && s.filesz > 0);
    const a = loads[0]!;
    const b = loads[1]!;
    const file = Buffer.from(good);
    file.writeBigUInt64LE(BigInt(a.offset + 8), phdrAt(b.index) + 8);
    rejects(file, new RegExp(`segments ${a.index} and ${b.index} overlap in the file`));
    const mem = Buffer.from(good);
    mem.writeBigUInt64LE(a.vaddr + 16n, phdrAt(b.index) + 16);
    rejects(mem, /PT_LOAD segments \d+ and \d+ overlap in memory/);
  });

  test('CLI: exit 2 naming the problem, never a trace; a 100 MB junk file is not read', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sigframe-core-'));
    const junk = join(tmp, 'junk');
    const fd = openSync(junk, 'w');
    writeFileSync(fd, Buffer.alloc(64, 0x5a));
    closeSync(fd);
    spawnSync('truncate', ['-s', '100M', junk]);
    const r = cli('core', junk);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not an ELF file/);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
    const cut = join(tmp, 'cut');
    writeFileSync(cut, good.subarray(0, note.offset + 100));
    const c = cli('core', '--json', cut);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /PT_NOTE segment/);
    assert.equal(cli('core', join(tmp, 'missing')).code, 2);
    assert.equal(cli('core', tmp).code, 2);
    const t = cli('core', join(dir, cases[0]!, 'core'), '--thread', '1');
    assert.equal(t.code, 2);
    assert.match(t.stderr, /--thread 1: the core's threads are \d+, \d+/);
  });
});

describe('sigframe core: the CLI', () => {
  test('--json has the keys the README promises', () => {
    const r = cli('core', '--json', join(dir, 'zen4-x86_64', 'core'));
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.xsave_layout.source, 'note');
    const t = j.threads.find((x: { frames: unknown[] }) => x.frames.length > 0);
    for (const k of ['tid', 'registers', 'xstate', 'siginfo', 'frames']) assert.ok(k in t, k);
    for (const k of ['r8', 'ip', 'sp', 'flags']) assert.match(t.registers[k], /^0x/, k);
    assert.ok('address' in t.frames[0] && 'verdict' in t.frames[0] && 'state' in t.frames[0]);
    assert.equal(typeof t.siginfo.si_signo, 'number');
  });

  test('the table names the layout source, the frame, the alt stack and the verdict', () => {
    const name = cases.find((c) => !c.endsWith('gcore'))!;
    const r = cli('core', join(dir, name, 'core'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /XSAVE layout \(note: NT_X86_XSAVE_LAYOUT\)/);
    assert.match(r.stdout, /signal frame at 0x[0-9a-f]+ /);
    assert.match(r.stdout, /on the alt stack 0x[0-9a-f]+\+65536: the frame took \d+ bytes/);
    assert.match(r.stdout, /rt_sigreturn: FULL/);
  });

  test('decode of a core points at `sigframe core`', () => {
    const r = cli('decode', join(dir, cases[0]!, 'core'), '--address', '0x1000');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /sigframe core/);
  });
});

describe('sigframe core: live, on this host', () => {
  const skip = hostSkipReason();
  for (const [abi, how] of [
    ['x86_64', 'kernel'],
    ['ia32', 'kernel'],
    ['x86_64', 'gcore'],
    ['x86_64', 'kernel-amx'],
  ] as const) {
    const title =
      how === 'gcore'
        ? "gdb's gcore"
        : how === 'kernel'
          ? 'the kernel'
          : 'the kernel, both threads holding tiles';
    test(`${abi} core written by ${title}`, {
      skip: skip ?? (how === 'kernel-amx' ? amxSkipReason() : undefined),
    }, async (t) => {
      const host = await import('../src/host/core.js');
      const { emulatedCpu } = await import('../src/host/probe.js');
      const made =
        how === 'gcore' ? host.gcoreOf(abi) : host.makeCore(abi, undefined, { amx: how === 'kernel-amx' });
      if (made.skipped !== undefined) {
        t.skip(made.skipped);
        return;
      }
      const m = made;
      const r = report(m.corePath);
      // gcore writes no NT_X86_XSAVE_LAYOUT; a kernel since 6.12 does.
      assert.equal(r.xsave_layout.source, how === 'gcore' ? 'inferred' : 'note');
      checkCore(r, m.info, { gcore: how === 'gcore', emulated: emulatedCpu() !== undefined });
    });
  }
});
