import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dataModels } from '../layouts/abi.js';
import { frameKinds } from '../layouts/frames.js';
import {
  genericSiCodes,
  nsigLimits,
  type SiginfoLayoutName,
  siginfo_chld_x32,
  siginfoLayouts,
  siginfoStructs,
  signalNumbers,
  signalSiCodes,
} from '../layouts/siginfo.js';
import { cCheckProgram } from '../src/abi/cchecks.js';
import { allStructs } from '../src/abi/index.js';
import { buildFrame } from '../src/frame/build.js';
import {
  type DecodedSiginfo,
  decodeSiginfo,
  encodeSiginfo,
  parseSiginfoJson,
  type SiginfoValue,
  siginfoStrayBytes,
} from '../src/frame/siginfo.js';
import { kindHasSiginfo, parseState, type SignalState } from '../src/frame/state.js';
import { decodeState, loadFrame, stateTarget } from '../src/io/frames.js';
import {
  type SiginfoAbi,
  siCodeName,
  siginfoFields,
  siginfoFormat,
  siginfoLayout,
  signalName,
} from '../src/kernel/siginfo.js';
import { cAsserts } from '../src/schema/cgen.js';
import { DecodeError, InputError, SchemaError } from '../src/schema/errors.js';
import { toJson } from '../src/schema/json.js';
import { layoutOf, locate } from '../src/schema/layout.js';
import { scenarios } from './support/frames.js';
import { compileC, fixture, hostSkipReason, root, targetSkipReason } from './support/helpers.js';

const SIG = signalNumbers;
const SI = genericSiCodes;
const C = signalSiCodes;

/** A capture's siginfo: the frame's info member, as raw bytes of the capture. */
function captured(file: string) {
  const { decoded, capture } = loadFrame(file);
  const kind = frameKinds[decoded.state.kind];
  if (!kindHasSiginfo(kind.name)) return { kind, capture: capture!, offset: undefined };
  const t = stateTarget(decoded.state);
  const offset =
    Number(decoded.frame - capture!.memory.address) + locate(kind.struct, t.model, 'info').offset;
  return { kind, capture: capture!, offset };
}

const captures = [...scenarios(fixture('frames')), ...scenarios(fixture('frames', 'avx2'))];

describe('siginfo in the captured frames (test/fixtures/frames)', () => {
  test('every capture with a siginfo decodes to the layout its signal was sent with', () => {
    let withInfo = 0;
    for (const file of captures) {
      const { kind, capture, offset } = captured(file);
      const { info } = capture;
      if (offset === undefined) {
        assert.equal(kind.name, 'ia32', `${info.scenario}: only the legacy ia32 frame has no siginfo`);
        assert.equal(info.siginfo, false);
        continue;
      }
      withInfo++;
      const d = decodeSiginfo(capture.memory.bytes, offset, kind.abi);
      assert.equal(d.si_signo, info.signal, info.scenario);
      assert.equal(d.si_errno, 0);
      assert.equal(d.signal, signalName(info.signal));
      if (info.fault_address !== undefined) {
        // native/capture.c loads from FAULT_ADDR (0x10): an unmapped page, so SEGV_MAPERR.
        assert.equal(d.signal, 'SIGSEGV');
        assert.ok(d.code === 'SEGV_MAPERR' || d.code === 'SEGV_ACCERR', `${info.scenario}: ${d.code}`);
        assert.equal(d.layout, 'fault');
        if (d.layout === 'fault') assert.equal(d.si_addr, info.fault_address, `${info.scenario}: si_addr`);
        assert.equal(info.fault_address, 0x10n);
      } else {
        // kill() (SI_USER) in every scenario, tgkill() would be SI_TKILL (layout rt, same members).
        assert.ok(d.code === 'SI_USER' || d.code === 'SI_TKILL', `${info.scenario}: ${d.code}`);
        assert.ok(d.layout === 'kill' || d.layout === 'rt');
        if (d.layout === 'kill' || d.layout === 'rt') {
          assert.ok(d.si_pid > 0, `${info.scenario}: si_pid ${d.si_pid}`);
          assert.ok(d.si_uid >= 0);
        }
        assert.ok(d.signal === 'SIGUSR1' || d.signal === 'SIGUSR2');
      }
      assert.deepEqual(
        siginfoStrayBytes(capture.memory.bytes, offset, kind.abi),
        [],
        `${info.scenario}: bytes past the layout's members are zero`,
      );
    }
    assert.ok(withInfo >= 12, `${withInfo} captures with a siginfo`);
  });

  test('decode then encode gives the captured 128 bytes back, for every capture', () => {
    for (const file of captures) {
      const { kind, capture, offset } = captured(file);
      if (offset === undefined) continue;
      const bytes = capture.memory.bytes.subarray(offset, offset + 128);
      const again = encodeSiginfo(decodeSiginfo(capture.memory.bytes, offset, kind.abi), kind.abi);
      assert.deepEqual(Buffer.from(again), Buffer.from(bytes), capture.info.scenario);
    }
  });

  test('the 128 bytes must be inside the input: DecodeError naming the offset', () => {
    const bytes = new Uint8Array(200);
    assert.throws(
      () => decodeSiginfo(bytes, 100, 'x86_64'),
      (e: unknown) =>
        e instanceof DecodeError && e.where.offset === 100 && /from offset 100.*holds 200/.test(e.message),
    );
    assert.throws(() => decodeSiginfo(bytes, -1, 'ia32'), DecodeError);
    assert.throws(() => decodeSiginfo(bytes, 1.5, 'ia32'), DecodeError);
    assert.equal(decodeSiginfo(bytes, 72, 'ia32').layout, 'kill');
  });
});

/** [signal, si_code, layout] — the rule of kernel/signal.c siginfo_layout() on x86. */
const rule: [number, number, SiginfoLayoutName][] = [
  [SIG.SIGUSR1, SI.SI_USER, 'kill'],
  [SIG.SIGSEGV, SI.SI_KERNEL, 'kill'],
  [SIG.SIGCHLD, nsigLimits.NSIGCHLD + 1, 'kill'],
  [SIG.SIGSEGV, nsigLimits.NSIGSEGV + 1, 'kill'],
  [SIG.SIGUSR1, nsigLimits.NSIGPOLL + 1, 'kill'],
  [SIG.SIGALRM, SI.SI_TIMER, 'timer'],
  [34, SI.SI_TIMER, 'timer'],
  [SIG.SIGUSR1, SI.SI_QUEUE, 'rt'],
  [SIG.SIGUSR1, SI.SI_TKILL, 'rt'],
  [SIG.SIGSEGV, SI.SI_ASYNCNL, 'rt'],
  [SIG.SIGCHLD, SI.SI_DETHREAD, 'rt'],
  [SIG.SIGIO, SI.SI_MESGQ, 'rt'],
  [SIG.SIGCHLD, C.SIGCHLD.CLD_EXITED, 'chld'],
  [SIG.SIGCHLD, C.SIGCHLD.CLD_CONTINUED, 'chld'],
  [SIG.SIGSEGV, C.SIGSEGV.SEGV_MAPERR, 'fault'],
  [SIG.SIGSEGV, C.SIGSEGV.SEGV_CPERR, 'fault'],
  [SIG.SIGBUS, C.SIGBUS.BUS_ADRERR, 'fault'],
  // SIL_FAULT_TRAPNO is SPARC's (SIGILL ILL_ILLTRP) and Alpha's (SIGFPE, SIGTRAP TRAP_UNK) only.
  [SIG.SIGILL, C.SIGILL.ILL_ILLTRP, 'fault'],
  [SIG.SIGFPE, C.SIGFPE.FPE_INTDIV, 'fault'],
  [SIG.SIGTRAP, C.SIGTRAP.TRAP_UNK, 'fault'],
  [SIG.SIGBUS, C.SIGBUS.BUS_MCEERR_AR, 'fault_mceerr'],
  [SIG.SIGBUS, C.SIGBUS.BUS_MCEERR_AO, 'fault_mceerr'],
  [SIG.SIGSEGV, C.SIGSEGV.SEGV_BNDERR, 'fault_bnderr'],
  [SIG.SIGSEGV, C.SIGSEGV.SEGV_PKUERR, 'fault_pkuerr'],
  [SIG.SIGTRAP, C.SIGTRAP.TRAP_PERF, 'fault_perf'],
  [SIG.SIGIO, C.SIGIO.POLL_IN, 'poll'],
  [SIG.SIGURG, SI.SI_SIGIO, 'poll'],
  [SIG.SIGUSR1, C.SIGIO.POLL_MSG, 'poll'],
  // Past SIGSYS's own codes but within NSIGPOLL: the kernel's else-branch makes it a poll.
  [SIG.SIGSYS, nsigLimits.NSIGSYS + 1, 'poll'],
  [SIG.SIGSYS, C.SIGSYS.SYS_SECCOMP, 'sys'],
  [SIG.SIGSYS, C.SIGSYS.SYS_USER_DISPATCH, 'sys'],
];

/** Where each member sits in the 128 bytes (absolute), as the uapi headers and compat.h have it. */
const expected: Record<SiginfoLayoutName, Record<SiginfoAbi, Record<string, number>>> = {
  kill: {
    x86_64: { si_pid: 16, si_uid: 20 },
    ia32: { si_pid: 12, si_uid: 16 },
    x32: { si_pid: 12, si_uid: 16 },
  },
  timer: {
    x86_64: { si_tid: 16, si_overrun: 20, si_value: 24 },
    ia32: { si_tid: 12, si_overrun: 16, si_value: 20 },
    x32: { si_tid: 12, si_overrun: 16, si_value: 20 },
  },
  rt: {
    x86_64: { si_pid: 16, si_uid: 20, si_value: 24 },
    ia32: { si_pid: 12, si_uid: 16, si_value: 20 },
    x32: { si_pid: 12, si_uid: 16, si_value: 20 },
  },
  chld: {
    x86_64: { si_pid: 16, si_uid: 20, si_status: 24, si_utime: 32, si_stime: 40 },
    ia32: { si_pid: 12, si_uid: 16, si_status: 20, si_utime: 24, si_stime: 28 },
    x32: { si_pid: 12, si_uid: 16, si_status: 20, si_utime: 24, si_stime: 32 },
  },
  fault: { x86_64: { si_addr: 16 }, ia32: { si_addr: 12 }, x32: { si_addr: 12 } },
  fault_mceerr: {
    x86_64: { si_addr: 16, si_addr_lsb: 24 },
    ia32: { si_addr: 12, si_addr_lsb: 16 },
    x32: { si_addr: 12, si_addr_lsb: 16 },
  },
  fault_bnderr: {
    x86_64: { si_addr: 16, si_lower: 32, si_upper: 40 },
    ia32: { si_addr: 12, si_lower: 20, si_upper: 24 },
    x32: { si_addr: 12, si_lower: 20, si_upper: 24 },
  },
  fault_pkuerr: {
    x86_64: { si_addr: 16, si_pkey: 32 },
    ia32: { si_addr: 12, si_pkey: 20 },
    x32: { si_addr: 12, si_pkey: 20 },
  },
  fault_perf: {
    x86_64: { si_addr: 16, si_perf_data: 24, si_perf_type: 32, si_perf_flags: 36 },
    ia32: { si_addr: 12, si_perf_data: 16, si_perf_type: 20, si_perf_flags: 24 },
    x32: { si_addr: 12, si_perf_data: 16, si_perf_type: 20, si_perf_flags: 24 },
  },
  poll: {
    x86_64: { si_band: 16, si_fd: 24 },
    ia32: { si_band: 12, si_fd: 16 },
    x32: { si_band: 12, si_fd: 16 },
  },
  sys: {
    x86_64: { si_call_addr: 16, si_syscall: 24, si_arch: 28 },
    ia32: { si_call_addr: 12, si_syscall: 16, si_arch: 20 },
    x32: { si_call_addr: 12, si_syscall: 16, si_arch: 20 },
  },
};

/** A value for every member: distinct small numbers (bigints where the schema decodes bigints). */
function sampleValue(signo: number, code: number, abi: SiginfoAbi): SiginfoValue {
  const f = siginfoFormat(abi);
  const fields = siginfoFields(siginfoLayout(signo, code), abi);
  const out: Record<string, unknown> = { si_signo: signo, si_errno: 3, si_code: code };
  let n = 0x11;
  for (const m of layoutOf(fields, f.model).fields) {
    if (m.node.kind !== 'int' || m.name.startsWith('_')) continue;
    const bigint = m.size === 8 || typeof m.node.width === 'string';
    out[m.name] = bigint ? BigInt(n) : n;
    n += 0x11;
  }
  return out as SiginfoValue;
}

const modelOf = { x86_64: 'lp64', ia32: 'ilp32', x32: 'x32' } as const;

describe('siginfo_layout() and the per-layout structs', () => {
  for (const abi of ['x86_64', 'ia32', 'x32'] as const) {
    test(`${abi}: every layout by the kernel's rule, at the uapi offsets, round-tripped`, () => {
      const seen = new Set<SiginfoLayoutName>();
      for (const [signo, code, layout] of rule) {
        assert.equal(siginfoLayout(signo, code), layout, `siginfo_layout(${signo}, ${code})`);
        seen.add(layout);
        const value = sampleValue(signo, code, abi);
        const bytes = encodeSiginfo(value, abi);
        assert.equal(bytes.length, 128);
        const d = decodeSiginfo(bytes, 0, abi);
        assert.equal(d.layout, layout);
        assert.deepEqual(
          { ...d, signal: undefined, code: undefined, layout: undefined },
          { ...value, signal: undefined, code: undefined, layout: undefined },
        );
        assert.deepEqual(Buffer.from(encodeSiginfo(d, abi)), Buffer.from(bytes));
        // Each member's value sits where the uapi header puts it; every other byte is zero.
        const dv = new DataView(bytes.buffer);
        const want = expected[layout][abi];
        const f = siginfoFormat(abi);
        const members = layoutOf(siginfoFields(layout, abi), f.model).fields.filter(
          (m) => m.node.kind !== 'pad' && !m.name.startsWith('_'),
        );
        assert.deepEqual(
          members.map((m) => m.name),
          Object.keys(want),
        );
        let owned = 12;
        for (const m of members) {
          assert.equal(f.base + m.offset, want[m.name], `${layout}.${m.name} (${abi})`);
          const v = (value as unknown as Record<string, number | bigint>)[m.name]!;
          assert.equal(dv.getUint8(want[m.name]!), Number(v), `${layout}.${m.name} byte`);
          owned += m.size;
        }
        assert.equal(
          bytes.subarray(12).filter((b) => b !== 0).length,
          members.length,
          'past the header, one non-zero byte per member',
        );
        assert.ok(owned <= 128);
      }
      assert.deepEqual([...seen].sort(), Object.keys(siginfoLayouts).sort(), 'every layout is covered');
    });
  }

  test('the schema offsets are the ones the uapi C check compiles (cCheckProgram)', () => {
    for (const s of siginfoStructs) assert.ok(allStructs.includes(s), `${s.name} is in allStructs`);
    for (const abi of ['x86_64', 'ia32'] as const) {
      const model = modelOf[abi];
      const program = cCheckProgram(model);
      for (const [layout, l] of Object.entries(siginfoLayouts)) {
        const s = l.fields;
        assert.ok(s.doc.uapi?.models.includes(model), `${s.name} is checked under ${model}`);
        for (const m of layoutOf(s, dataModels[model]).fields) {
          if (m.node.kind === 'pad' || m.name.startsWith('_')) continue;
          const line = `_Static_assert(offsetof(siginfo_t, ${m.name}) - offsetof(siginfo_t, _sifields) == ${m.offset}, "${s.name}/${model}: offsetof(${m.name}) - offsetof(_sifields) == ${m.offset}");`;
          assert.ok(program.includes(line), `${layout} ${m.name} @${m.offset} (${model}) is compiled`);
          assert.equal(
            siginfoFormat(abi).base + m.offset,
            expected[layout as SiginfoLayoutName][abi][m.name],
          );
        }
      }
      // The view checks members only: no sizeof(siginfo_t) per alternative.
      assert.doesNotMatch(program, /siginfo_kill\/\w+: sizeof ==/);
    }
    // x32 programs get compat_siginfo_t; the alternatives that x32's data model lays out the same
    // are compiled against the x32 header too.
    const x32 = cCheckProgram('x32');
    assert.match(x32, /siginfo_fault_bnderr\/x32: offsetof\(si_lower\) - offsetof\(_sifields\) == 8/);
    assert.doesNotMatch(x32, /siginfo_chld\//);
  });

  test('x32 SIGCHLD: _sigchld_x32 (compat_s64 at 12 and 20), compiled against the x32 header', (t) => {
    assert.equal(siginfoFields('chld', 'x32'), siginfo_chld_x32);
    assert.equal(siginfoFields('chld', 'ia32'), siginfoLayouts.chld.fields);
    const skip = hostSkipReason() ?? targetSkipReason('-mx32');
    if (skip) return t.skip(skip);
    const program = [
      '#include <stddef.h>',
      '#include <asm/siginfo.h>',
      ...cAsserts(siginfo_chld_x32, dataModels.ilp32, { ctype: 'siginfo_t' }),
      '',
    ].join('\n');
    assert.match(program, /offsetof\(siginfo_t, si_utime\) - offsetof\(siginfo_t, _sifields\) == 12/);
    const r = compileC(program, '-mx32');
    assert.ok(r.ok, r.stderr);
    // Under the x32 data model (8-aligned __s64) the same struct is wrong — which is why it is
    // laid out under ILP32: the check can fail.
    const wrong = cAsserts(siginfo_chld_x32, dataModels.x32, { ctype: 'siginfo_t' });
    assert.equal(
      compileC(['#include <stddef.h>', '#include <asm/siginfo.h>', ...wrong, ''].join('\n'), '-mx32').ok,
      false,
    );
  });

  test('signal numbers, si_code values and NSIG* limits are the header’s (cc)', {
    skip: hostSkipReason(),
  }, () => {
    const lines = ['#include <asm/signal.h>', '#include <asm/siginfo.h>'];
    const check = (name: string, value: number) =>
      lines.push(`_Static_assert((${name}) == (${value}), "${name} == ${value}");`);
    for (const [name, n] of Object.entries(signalNumbers)) check(name, n);
    check('SIGPOLL', SIG.SIGIO);
    for (const [name, v] of Object.entries(genericSiCodes)) check(name, v);
    for (const table of Object.values(signalSiCodes)) {
      for (const [name, v] of Object.entries(table)) {
        // SEGV_CPERR (Linux 6.6) is missing from older installed headers.
        if (name === 'SEGV_CPERR') lines.push(`#ifdef SEGV_CPERR`);
        check(name, v);
        if (name === 'SEGV_CPERR') lines.push('#endif');
      }
    }
    for (const [name, v] of Object.entries(nsigLimits)) {
      if (name === 'NSIGSEGV') {
        lines.push('#ifdef SEGV_CPERR');
        check(name, v);
        lines.push('#else');
        check(name, v - 1);
        lines.push('#endif');
      } else check(name, v);
    }
    for (const flag of ['-m64', '-m32']) {
      const skip = targetSkipReason(flag);
      if (skip) continue;
      const r = compileC(`${lines.join('\n')}\n`, flag);
      assert.ok(r.ok, `${flag}: ${r.stderr}`);
    }
  });

  test('names: signals 1..31, codes per signal (POLL_* for signals without their own), null elsewhere', () => {
    assert.equal(signalName(11), 'SIGSEGV');
    assert.equal(signalName(29), 'SIGIO');
    assert.equal(signalName(34), null);
    assert.equal(siCodeName(SIG.SIGSEGV, 1), 'SEGV_MAPERR');
    assert.equal(siCodeName(SIG.SIGBUS, 1), 'BUS_ADRALN');
    assert.equal(siCodeName(SIG.SIGSEGV, 4), 'SEGV_PKUERR');
    assert.equal(siCodeName(SIG.SIGUSR1, 1), 'POLL_IN');
    assert.equal(siCodeName(SIG.SIGUSR1, -6), 'SI_TKILL');
    assert.equal(siCodeName(SIG.SIGTRAP, 0x80), 'SI_KERNEL');
    assert.equal(siCodeName(SIG.SIGTRAP, (1 << 8) | SIG.SIGTRAP), null);
    assert.equal(siCodeName(SIG.SIGSEGV, 11), null);
  });

  test('encodeSiginfo refuses members of another layout and contradicting names', () => {
    const fault = { si_signo: 11, si_errno: 0, si_code: 1, si_addr: 0x10n } as SiginfoValue;
    assert.throws(
      () => encodeSiginfo({ ...fault, si_pid: 1 } as unknown as SiginfoValue, 'x86_64'),
      (e: unknown) =>
        e instanceof SchemaError && /siginfo\.si_pid: not a member of the fault layout/.test(e.message),
    );
    assert.throws(
      () => encodeSiginfo({ ...fault, layout: 'kill' } as unknown as SiginfoValue, 'x86_64'),
      /siginfo\.layout: .* is "fault", not "kill"/,
    );
    assert.throws(() => encodeSiginfo({ ...fault, si_addr: 1n << 32n } as SiginfoValue, 'ia32'), SchemaError);
    assert.equal(encodeSiginfo({ ...fault, si_addr: 0xffffffffn } as SiginfoValue, 'ia32')[15], 0xff);
  });
});

describe('siginfo against gdb ($_siginfo, PTRACE_GETSIGINFO) on this kernel', () => {
  const gdb = spawnSync('gdb', ['--version'], { encoding: 'utf8' });
  const skip =
    hostSkipReason() ??
    (gdb.error || gdb.status !== 0 ? 'no gdb to read $_siginfo at the signal stops' : undefined);
  const gdbLine =
    'printf "GDB %d %d %d %d %u %#lx\\n", $_siginfo.si_signo, $_siginfo.si_errno, $_siginfo.si_code, ' +
    '$_siginfo._sifields._kill.si_pid, $_siginfo._sifields._kill.si_uid, ' +
    '(unsigned long)$_siginfo._sifields._sigfault.si_addr';

  for (const [abi, flag] of [
    ['x86_64', '-m64'],
    ['ia32', '-m32'],
  ] as const) {
    test(`${abi} (cc ${flag}): the handler's 128 bytes decode to what gdb shows`, { skip }, (t) => {
      const target = targetSkipReason(flag);
      if (target) return t.skip(target);
      const dir = mkdtempSync(join(tmpdir(), 'sigframe-siginfo-'));
      const exe = join(dir, 'siginfo');
      const cc = spawnSync(
        process.env.CC ?? 'cc',
        [flag, '-O1', '-o', exe, join(root, 'native', 'siginfo.c')],
        {
          encoding: 'utf8',
        },
      );
      if (cc.status !== 0)
        return t.skip(`cc ${flag} cannot link native/siginfo.c: ${cc.stderr.split('\n')[0]}`);
      const r = spawnSync(
        'gdb',
        [
          '-batch',
          '-nx',
          '-ex',
          'set pagination off',
          '-ex',
          'set startup-with-shell off',
          '-ex',
          'handle SIGUSR1 stop print pass',
          '-ex',
          'handle SIGSEGV stop print pass',
          '-ex',
          'run',
          '-ex',
          gdbLine,
          '-ex',
          'continue',
          '-ex',
          gdbLine,
          '-ex',
          'continue',
          '--args',
          exe,
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      const out = `${r.stdout}\n${r.stderr}`;
      const stops = [...out.matchAll(/^GDB (-?\d+) (-?\d+) (-?\d+) (-?\d+) (\d+) (0x[0-9a-f]+|0)$/gm)];
      if (stops.length === 0 && /ptrace|Operation not permitted|not allowed/i.test(out))
        return t.skip(`gdb cannot trace here: ${out.split('\n').find((l) => /ptrace|permitted/i.test(l))}`);
      const handled = [...out.matchAll(/^SIGINFO (\d+) ([0-9a-f]{256})$/gm)];
      const pid = /^PID (\d+) (\d+)$/m.exec(out);
      assert.ok(pid, `the program ran under gdb:\n${out}`);
      assert.equal(stops.length, 2, `gdb stopped at SIGUSR1 and SIGSEGV:\n${out}`);
      assert.equal(handled.length, 2, `the handler printed both siginfos:\n${out}`);

      const values = stops.map((m, i) => {
        const bytes = Uint8Array.from(Buffer.from(handled[i]![2]!, 'hex'));
        const d = decodeSiginfo(bytes, 0, abi);
        assert.equal(Number(handled[i]![1]), d.si_signo, 'the handler got its signal');
        const g = {
          si_signo: Number(m[1]),
          si_errno: Number(m[2]),
          si_code: Number(m[3]),
          si_pid: Number(m[4]),
          si_uid: Number(m[5]),
          si_addr: BigInt(m[6]!),
        };
        // Field by field: the header, then the members of the decoded layout.
        assert.equal(d.si_signo, g.si_signo);
        assert.equal(d.si_errno, g.si_errno);
        assert.equal(d.si_code, g.si_code);
        if (d.layout === 'kill' || d.layout === 'rt') {
          assert.equal(d.si_pid, g.si_pid);
          assert.equal(d.si_uid, g.si_uid);
        }
        if (d.layout === 'fault') assert.equal(d.si_addr, g.si_addr);
        assert.deepEqual(Buffer.from(encodeSiginfo(d, abi)), Buffer.from(bytes), 'decode → encode');
        assert.deepEqual(siginfoStrayBytes(bytes, 0, abi), []);
        return d;
      });
      const [usr1, segv] = values as [DecodedSiginfo, DecodedSiginfo];
      // tgkill(): SI_TKILL, a negative code, so the kernel's SIL_RT — pid and uid of the sender.
      assert.equal(usr1.signal, 'SIGUSR1');
      assert.equal(usr1.code, 'SI_TKILL');
      assert.equal(usr1.layout, 'rt');
      if (usr1.layout === 'rt') {
        assert.equal(usr1.si_pid, Number(pid[1]));
        assert.equal(usr1.si_uid, Number(pid[2]));
        assert.equal(usr1.si_value, 0n);
      }
      assert.equal(segv.signal, 'SIGSEGV');
      assert.equal(segv.code, 'SEGV_MAPERR');
      assert.equal(segv.layout, 'fault');
      if (segv.layout === 'fault') assert.equal(segv.si_addr, 0x10n);
      t.diagnostic(`gdb: ${stops.map((m) => m[0]).join(' | ')}`);
      t.diagnostic(`decoded: ${toJson(values).replace(/\s+/g, ' ')}`);
    });
  }
});

describe('the builder writes what decodeSiginfo reads', () => {
  const base = () => loadFrame(fixture('frames', 'x86_64-sigsegv-fault.json')).decoded.state;
  const asJson = (s: SignalState, extra: Record<string, unknown>) => ({
    ...(JSON.parse(toJson(s)) as Record<string, unknown>),
    ...extra,
  });
  const infoOf = (s: SignalState) => {
    const t = stateTarget(s);
    const built = buildFrame(s, t);
    const kind = frameKinds[s.kind];
    return decodeSiginfo(built.bytes, locate(kind.struct, t.model, 'info').offset, kind.abi);
  };

  test('siginfo {si_signo: 11, si_code: "SEGV_MAPERR", si_addr: "0x1000"} builds a frame whose info decodes to it', () => {
    const state = parseState(
      asJson(base(), { siginfo: { si_signo: 11, si_code: 'SEGV_MAPERR', si_addr: '0x1000' } }),
    );
    assert.deepEqual(state.siginfo, { si_signo: 11, si_errno: 0, si_code: 1, si_addr: 0x1000n });
    const d = infoOf(state);
    assert.deepEqual(d, {
      si_signo: 11,
      si_errno: 0,
      si_code: 1,
      signal: 'SIGSEGV',
      code: 'SEGV_MAPERR',
      layout: 'fault',
      si_addr: 0x1000n,
    });
    // Through the decoder too: the state's frame.info is the siginfo just written.
    const again = decodeState(state).state.frame;
    assert.ok('info' in again);
    assert.deepEqual(
      Buffer.from(again.info._sifields).subarray(0, 8),
      Buffer.from([0, 0x10, 0, 0, 0, 0, 0, 0]),
    );
  });

  test('ia32 rt frames: a queued signal with names, its `sig` follows si_signo', () => {
    const ia32 = loadFrame(fixture('frames', 'ia32-rt-sigusr1.json')).decoded.state;
    const state = parseState(
      asJson(ia32, {
        siginfo: {
          si_signo: 'SIGUSR2',
          si_code: 'SI_QUEUE',
          si_pid: 42,
          si_uid: 1000,
          si_value: '0xdeadbeef',
        },
      }),
    );
    const d = infoOf(state);
    assert.equal(d.layout, 'rt');
    if (d.layout === 'rt') {
      assert.equal(d.si_pid, 42);
      assert.equal(d.si_uid, 1000);
      assert.equal(d.si_value, 0xdeadbeefn);
    }
    const built = buildFrame(state, stateTarget(state));
    assert.equal(new DataView(built.bytes.buffer).getInt32(4, true), SIG.SIGUSR2, 'rt_sigframe_ia32.sig');
    // A decoded siginfo printed as JSON is accepted back.
    const printed = JSON.parse(toJson(d)) as Record<string, unknown>;
    assert.deepEqual(parseSiginfoJson(printed, '$.siginfo', 'ia32'), {
      si_signo: 12,
      si_errno: 0,
      si_code: -1,
      si_pid: 42,
      si_uid: 1000,
      si_value: 0xdeadbeefn,
    });
  });

  test('kinds without siginfo refuse it, naming the path; bad members name theirs', () => {
    const legacy = loadFrame(fixture('frames', 'ia32-legacy-sigusr1.json')).decoded.state;
    assert.throws(
      () => parseState(asJson(legacy, { siginfo: { si_signo: 10, si_code: 0 } })),
      (e: unknown) =>
        e instanceof InputError &&
        e.where.path === '$.siginfo' &&
        /sigframe_ia32 frames .* carry no siginfo/.test(e.message),
    );
    assert.throws(
      () =>
        buildFrame(
          { ...legacy, siginfo: { si_signo: 10, si_errno: 0, si_code: 0, si_pid: 1, si_uid: 0 } },
          stateTarget(legacy),
        ),
      (e: unknown) => e instanceof InputError && e.where.path === 'siginfo',
    );
    const bad = (siginfo: unknown, path: string, message: RegExp) =>
      assert.throws(
        () => parseState(asJson(base(), { siginfo })),
        (e: unknown) => e instanceof InputError && e.where.path === path && message.test(e.message),
      );
    bad(
      { si_signo: 11, si_code: 'SEGV_MAPERR', si_pid: 1 },
      '$.siginfo.si_pid',
      /not a member of the fault layout/,
    );
    bad({ si_signo: 11, si_code: 'BUS_ADRERR' }, '$.siginfo.si_code', /BUS_ADRERR is a SIGBUS code/);
    bad({ si_signo: 'SIGNOPE', si_code: 0 }, '$.siginfo.si_signo', /not a signal name/);
    bad({ si_signo: 11, si_code: 1, si_addr: '0x1' + '0'.repeat(16) }, '$.siginfo.si_addr', /64-bit/);
    bad({ si_signo: 11, si_code: 1, layout: 'kill' }, '$.siginfo.layout', /is "fault", not "kill"/);
  });
});
