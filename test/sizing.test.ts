import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { dataModels } from '../layouts/abi.js';
import {
  type FrameKindName,
  frameKinds,
  rt_sigframe,
  rt_sigframe_ia32,
  rt_sigframe_x32,
  sigframe_ia32,
} from '../layouts/frames.js';
import { kernelEras } from '../layouts/kernels.js';
import { libcReleases } from '../layouts/libc.js';
import { parseAltstackOutput } from '../src/host/altstack.js';
import { builtinProfileNames, loadBuiltinProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';
import {
  atMinsigstksz,
  deliveryMinimum,
  frameFit,
  frameGeometry,
  getSigframe,
  maxFrameSize,
  requestXcompPerm,
  sigaltstackMinAccepted,
} from '../src/kernel/signal.js';
import { amxStates, possibleAmxStates, taskFpu } from '../src/kernel/task.js';
import { type KernelConfig, kernelXfeatures } from '../src/kernel/xstate.js';
import { libcRelease, libcRow, parseLibcChoice, releaseRange } from '../src/libc/sysconf.js';
import { compare, hazardRules, rulePath, valueAt } from '../src/report/hazards.js';
import { compareWithKernel } from '../src/report/measure.js';
import { sizeReport } from '../src/report/size.js';
import { sizeTerms } from '../src/report/terms.js';
import { SigframeError } from '../src/schema/errors.js';
import { toJson } from '../src/schema/json.js';
import { sizeOf } from '../src/schema/layout.js';
import { fixture, root } from './support/helpers.js';

const IA32: KernelConfig = { bits: 64 };
const NO_IA32: KernelConfig = { bits: 64, ia32Emulation: false };
const I386: KernelConfig = { bits: 32 };

function model(name: string, version = '6.18', config: KernelConfig = IA32) {
  const p = loadBuiltinProfile(name);
  const kernel = chooseKernel(version);
  const k = kernelXfeatures(p.cpuid, p.xsave, kernel.era, config);
  return { p, kernel, era: kernel.era, k, config };
}

const PAGE = 4096;
const size = (name: string, amx: 'none' | 'permitted' | 'used' = 'none', config = IA32, version = '6.18') => {
  const m = model(name, version, config);
  return sizeReport(m.p, m.kernel, { kind: 'x86_64', topAlign: PAGE, config }, amx);
};
/** A report's row for one C library release. */
const libcOf = (r: ReturnType<typeof size>, libc: 'glibc' | 'musl', version: string) =>
  r.libc.find((l) => l.libc === libc && l.versions === releaseRange(libcRelease(libc, version)))!;
const hazardText = (r: ReturnType<typeof size>) =>
  [...r.hazards, ...r.states.flatMap((s) => s.hazards)].map((h) => h.message);

describe('frame structs (arch/x86/include/asm/sigframe.h)', () => {
  test('sizes as the kernel compiles them: sigframe_ia32 is 736 on x86-64 kernels, 732 on i386', () => {
    assert.equal(sizeOf(rt_sigframe, dataModels.lp64), 440);
    assert.equal(sizeOf(rt_sigframe_x32, dataModels.lp64), 424);
    assert.equal(sizeOf(rt_sigframe_ia32, dataModels.lp64), 268);
    assert.equal(sizeOf(sigframe_ia32, dataModels.lp64), 736);
    assert.equal(sizeOf(sigframe_ia32, dataModels.ilp32), 732);
  });
});

// Published figures: ../shared/reference/kernel-signal-abi.md §7 (dmesg "signal: max sigframe size"
// from public boot logs, and the M6.18 measurements), reproduced from the profiles' CPUID alone.
describe('published figures', () => {
  test('AMD EPYC (family 25) KVM guest, 6.18: AT_MINSIGSTKSZ 3376, glibc _SC_SIGSTKSZ 13504', () => {
    const r = size('amd-epyc-zen4-kvm');
    assert.equal(r.max_size, 2432);
    assert.equal(r.fpu_default_state_size, 2548);
    assert.equal(r.at_minsigstksz, 3376);
    assert.equal(libcOf(r, 'glibc', '2.36').sc_minsigstksz, 3376);
    assert.equal(libcOf(r, 'glibc', '2.36').sc_sigstksz, 13504);
    // M6.18: a 64-bit frame below a page-aligned top takes 2952 bytes; 2953 is the least ss_size.
    assert.equal(r.frame.bytes_below_top, 2952);
    assert.equal(r.min_altstack, 2953);
    assert.equal(r.min_altstack_worst, 2956);
  });

  test('Skylake-SP / Cascade Lake with IA32 emulation: 3632', () => {
    const r = size('intel-cascade-lake');
    assert.equal(r.max_size, 2696);
    assert.equal(r.at_minsigstksz, 3632);
  });

  test('Haswell (AVX2 only, 832): 1776, and glibc reports it although sigaltstack() needs 2048', () => {
    const r = size('intel-haswell-ep');
    assert.equal(r.at_minsigstksz, 1776);
    assert.equal(libcOf(r, 'glibc', '2.36').sc_minsigstksz, 1776);
    assert.equal(r.sigaltstack.min_accepted, 2048);
    // The frame takes 1352 bytes below a page-aligned top, but 2048 is the smallest alt stack
    // sigaltstack() lets a signal be delivered on: the admission floor, not the frame, decides.
    assert.equal(r.frame.bytes_below_top, 1352);
    assert.equal(r.min_altstack, 2048);
    assert.equal(r.allocate.minimum, 2048);
    const text = hazardText(r);
    assert.ok(text.some((h) => h.includes('sysconf(_SC_MINSIGSTKSZ) = 1776') && h.includes('ENOMEM')));
    assert.ok(text.some((h) => h.startsWith('an alt stack of AT_MINSIGSTKSZ (1776) bytes is refused')));
    assert.ok(!text.some((h) => /sigframe bug|short of the 2048/.test(h)), text.join('\n'));
    assert.deepEqual([r.coverage.frames, r.coverage.delivery], [true, false]);
  });

  test('Sapphire Rapids: 11952 with IA32 emulation, 11536 without; glibc _SC_SIGSTKSZ 47808', () => {
    const r = size('intel-sapphire-rapids');
    assert.equal(r.max_size, 11008);
    assert.equal(r.default_size, 2816);
    assert.equal(r.at_minsigstksz, 11952);
    assert.equal(libcOf(r, 'glibc', '2.36').sc_sigstksz, 47808);
    assert.equal(size('intel-sapphire-rapids', 'none', NO_IA32).at_minsigstksz, 11536);
  });

  test('Sapphire Rapids frames: AMX none 3336, used 11528 below a page-aligned top', () => {
    const none = size('intel-sapphire-rapids', 'none');
    assert.equal(none.user_size, 2816);
    assert.equal(none.user_xfeatures, 0x202e7n);
    assert.equal(none.frame.bytes_below_top, 3336);
    assert.equal(none.min_altstack_worst, 3340);
    assert.equal(none.sigaltstack.min_accepted, 2048);
    const permitted = size('intel-sapphire-rapids', 'permitted');
    assert.equal(permitted.frame.bytes_below_top, 3336, 'permission alone does not grow the frame');
    assert.equal(permitted.sigaltstack.min_accepted, 11837, 'sigaltstack() needs > 11952 − 11124 + 11008');
    const used = size('intel-sapphire-rapids', 'used');
    assert.equal(used.user_size, 11008);
    assert.equal(used.user_xfeatures, 0x602e7n);
    assert.equal(used.frame.bytes_below_top, 11528);
    assert.equal(used.frame.bytes_below_worst_top, 11531);
    // A thread with permission is delivered on nothing sigaltstack() refuses: 11837, not 11532.
    assert.equal(used.min_altstack_worst, 11837);
    assert.equal(used.arch_req_xcomp_perm.enospc_below, 11952);
    // The two admission thresholds are 116 bytes apart (4 for MAGIC2 + 112 for the FSAVE header).
    assert.equal((used.arch_req_xcomp_perm.enospc_below ?? 0) - (used.sigaltstack.min_accepted - 1), 116);
  });

  test('ia32 frames below a page-aligned top on the AMD host kind: legacy 3348, rt 2884 (M6.18)', () => {
    const m = model('amd-epyc-zen4-kvm');
    const task = taskFpu(m.k, m.era, m.config, 'ia32', 'none');
    const top = 1n << 32n;
    assert.equal(Number(top - frameGeometry(frameKinds.ia32, top, task, m.k, m.config).frame), 3348);
    assert.equal(Number(top - frameGeometry(frameKinds['ia32-rt'], top, task, m.k, m.config).frame), 2884);
  });

  test('i386 kernel: the 732-byte sigframe_ia32 enters AT_MINSIGSTKSZ', () => {
    const m = model('amd-epyc-zen4-kvm', '6.18', I386);
    // PKRU, AMX and APX are 64-bit-only; AVX-512 on this CPU is not, so max_size stays 2432.
    assert.equal(m.k.maxSize, 2432);
    assert.equal(maxFrameSize(m.k, I386), 3360, 'round_up(732 + 15 + 2548 + 63, 16)');
  });

  test('before 5.14: no AT_MINSIGSTKSZ; glibc estimates EBX + 516 (x86-64) and EBX + 932 (i386)', () => {
    const m = model('amd-epyc-zen4-kvm', '5.10');
    assert.equal(atMinsigstksz(m.k, m.era, IA32), undefined);
    const glibc = (abi: 'x86_64' | 'x32' | 'ia32') =>
      libcRow(libcRelease('glibc', '2.34'), undefined, m.k, abi, 2048).sc_minsigstksz;
    assert.equal(glibc('x86_64'), 2948);
    assert.equal(glibc('x32'), 2948);
    assert.equal(glibc('ia32'), 3364);
    // glibc's estimate is up to 8 bytes short of the frame's true worst case (2955 + 1).
    const r = size('amd-epyc-zen4-kvm', 'none', IA32, '5.10');
    assert.equal(r.min_altstack_worst, 2956);
    assert.ok(hazardText(r).some((h) => h.includes('2948 is 8 bytes short of the 2956 the frame needs')));
    assert.ok(hazardText(r).some((h) => h.includes('only for nested signals')));
    // …and so the summary line says it does not cover the frame (it once claimed it did).
    assert.equal(r.coverage.frames, false);
    assert.match(r.coverage.summary, /\(2948\) is 8 bytes short of the largest frame/);
  });

  test('C libraries by release: glibc before/after 2.34, musl before 1.2.4, 1.2.4–1.2.5, from 1.2.6', () => {
    const r = size('amd-epyc-zen4-kvm');
    const row = (libc: 'glibc' | 'musl', v: string) => {
      const l = libcOf(r, libc, v);
      return [l.versions, l.sc_minsigstksz, l.sc_sigstksz, l.sigaltstack_min];
    };
    assert.deepEqual(row('glibc', '2.33'), ['≤ 2.33', null, null, 2048]);
    assert.deepEqual(row('glibc', '2.43'), ['≥ 2.34', 3376, 13504, 2048]);
    assert.deepEqual(row('musl', '1.2.3'), ['≤ 1.2.3', null, null, 2048]);
    // 1.2.4: the aux vector value raised to MINSIGSTKSZ; _SC_SIGSTKSZ 6 KiB above it.
    assert.deepEqual(row('musl', '1.2.5'), ['1.2.4–1.2.5', 3376, 9520, 2048]);
    // 1.2.6: 1 KiB of handler room added, and sigaltstack() refuses anything below it.
    assert.deepEqual(row('musl', '1.2.6'), ['≥ 1.2.6', 4400, 10544, 4400]);
    // Without AT_MINSIGSTKSZ musl's getauxval() gives 0: both formulas land on 2048.
    const old = model('amd-epyc-zen4-kvm', '5.10');
    for (const v of ['1.2.4', '1.2.6'])
      assert.equal(libcRow(libcRelease('musl', v), undefined, old.k, 'x86_64', 2048).sc_minsigstksz, 2048);
    // AVX2: glibc's 1776 is below what sigaltstack() takes; musl 1.2.4 answers 2048.
    const avx2 = size('intel-haswell-ep');
    assert.deepEqual(
      ['2.36', '1.2.4', '1.2.6'].map((v, i) => libcOf(avx2, i ? 'musl' : 'glibc', v).sc_minsigstksz),
      [1776, 2048, 2800],
    );
  });

  test('AT_MINSIGSTKSZ a live kernel reported is what the model predicts for that profile', () => {
    let checked = 0;
    for (const name of builtinProfileNames()) {
      const p = loadBuiltinProfile(name);
      const seen = p.file.observed;
      if (seen?.at_minsigstksz === undefined) continue;
      const m = model(name, seen.kernel);
      assert.equal(maxFrameSize(m.k, IA32), seen.at_minsigstksz, `${name} on Linux ${seen.kernel}`);
      checked++;
    }
    assert.ok(checked >= 2, 'at least the two measured hosts');
  });
});

describe('admission rules', () => {
  test('sigaltstack(): 2048 without dynamic features; strict mode enforces the frame size everywhere', () => {
    const m = model('intel-cascade-lake');
    const none = taskFpu(m.k, m.era, IA32, 'x86_64', 'none');
    assert.equal(sigaltstackMinAccepted(m.k, m.era, IA32, none).minAccepted, 2048);
    const strict = { ...IA32, strictSasSize: true };
    assert.equal(sigaltstackMinAccepted(m.k, m.era, strict, none).minAccepted, 3632 - 2812 + 2696 + 1);
    // Before 5.16 there is no size validation at all.
    const old = model('intel-cascade-lake', '5.15');
    assert.equal(sigaltstackMinAccepted(old.k, old.era, strict, none).minAccepted, 2048);
  });

  test('ARCH_REQ_XCOMP_PERM: EINVAL, EOPNOTSUPP, ENOSPC and success, by the kernel’s order of checks', () => {
    const spr = model('intel-sapphire-rapids');
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 20).result, 'EINVAL');
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 17).result, 'EOPNOTSUPP');
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 18, [0, 11952]).result, 0);
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 18, [11951]).result, 'ENOSPC');
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 18, [8192], true).result, 0, 'already permitted');
    const amd = model('amd-epyc-zen4-kvm');
    assert.equal(requestXcompPerm(amd.k, amd.era, IA32, 18).result, 'EOPNOTSUPP');
    const old = model('intel-sapphire-rapids', '5.15');
    assert.equal(requestXcompPerm(old.k, old.era, IA32, 18).result, 'EINVAL');
    // XFEATURE_MAX grew to 20 with APX in 6.16.
    assert.equal(
      requestXcompPerm(spr.k, model('intel-sapphire-rapids', '6.1').era, IA32, 19).result,
      'EINVAL',
    );
    assert.equal(requestXcompPerm(spr.k, spr.era, IA32, 19).result, 'EOPNOTSUPP');
  });

  test('impossible AMX states are refused with the reason', () => {
    assert.throws(() => size('amd-epyc-zen4-kvm', 'used'), /no dynamic feature.*EOPNOTSUPP/);
    const m = model('intel-sapphire-rapids');
    assert.deepEqual(possibleAmxStates(m.k, m.era, IA32, 'ia32'), ['none', 'permitted']);
    assert.deepEqual(possibleAmxStates(m.k, model('intel-sapphire-rapids', '5.15').era, IA32, 'x86_64'), [
      'none',
    ]);
  });
});

// Measurements of a real kernel by native/altstack.c, committed so that every machine checks the
// model against them (fixtures/altstack/README.md says where each came from).
describe('captured measurements of real kernels', () => {
  const dir = fixture('altstack');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  test('there are captures for the 64-bit and the ia32 ABI', () => {
    assert.ok(files.some((f) => f.endsWith('.x86_64.json')));
    assert.ok(files.some((f) => f.endsWith('.ia32.json')));
    // One from an AMX CPU: ARCH_REQ_XCOMP_PERM's thresholds and frames before and after tile use.
    const amx = files
      .map((f) => parseAltstackOutput(readFileSync(`${dir}/${f}`, 'utf8')).amx)
      .filter((a) => a !== undefined);
    assert.ok(amx.some((a) => a.frames?.length === 44));
  });
  for (const file of files) {
    test(file, () => {
      const exp = parseAltstackOutput(readFileSync(`${dir}/${file}`, 'utf8'));
      const m = model(file.split('.')[0]!, exp.release ?? '6.18');
      const checks = compareWithKernel(exp, m.k, m.kernel, IA32);
      assert.ok(checks.length > 30, `expected many checks, got ${checks.length}`);
      const bad = checks.filter((c) => !c.ok);
      assert.deepEqual(bad, [], bad.map((c) => `${c.what}: model ${c.model}, kernel ${c.kernel}`).join('\n'));
      // The two rules themselves: the least ss_size is one more than the bytes below the top,
      // unless sigaltstack() refuses that size — then it is what sigaltstack() accepts.
      for (const row of exp.delivery)
        assert.equal(
          row.min_ss_size,
          deliveryMinimum(row.frame_below_top + 1, { minAccepted: exp.sigaltstack.min_accepted, rule: '' }),
        );
    });
  }
});

const profileNames = builtinProfileNames();
const kinds = Object.keys(frameKinds) as FrameKindName[];

describe('properties of the placement model', () => {
  test('every frame on every profile, era and AMX state fits in AT_MINSIGSTKSZ (the kernel’s promise)', () => {
    let n = 0;
    for (const name of profileNames) {
      for (const era of kernelEras) {
        for (const config of [IA32, NO_IA32, I386]) {
          const m = model(name, era.since, config);
          const at = maxFrameSize(m.k, config);
          for (const kind of kinds) {
            const abi = frameKinds[kind].abi;
            if ((config.bits === 32 && abi !== 'ia32') || (abi === 'ia32' && config.ia32Emulation === false))
              continue;
            for (const s of possibleAmxStates(m.k, m.era, config, abi)) {
              const task = taskFpu(m.k, m.era, config, abi, s);
              const worst = frameFit(frameKinds[kind], 1, task, m.k, config).bytesBelowTop;
              assert.ok(worst <= at, `${name} ${era.label} ${kind} ${s}: ${worst} > ${at}`);
              n++;
            }
          }
        }
      }
    }
    assert.ok(n > 400, `checked ${n} combinations`);
  });

  test('a frame never shrinks as a thread’s AMX state advances', () => {
    for (const name of profileNames) {
      const m = model(name);
      const states = possibleAmxStates(m.k, m.era, IA32, 'x86_64');
      const sizes = states.map(
        (s) => frameFit(frameKinds.x86_64, 1, taskFpu(m.k, m.era, IA32, 'x86_64', s), m.k, IA32).fits,
      );
      assert.deepEqual(
        sizes,
        [...sizes].sort((a, b) => a - b),
        name,
      );
    }
    assert.deepEqual(amxStates, ['none', 'permitted', 'used']);
  });

  test('get_sigframe delivers exactly when ss_size ≥ min_altstack, with the ABI’s alignments', () => {
    const arb = fc.record({
      profile: fc.constantFrom(...profileNames),
      kind: fc.constantFrom(...kinds),
      top: fc.bigInt({ min: 1n << 20n, max: (1n << 47n) - 1n }),
      slack: fc.integer({ min: -200, max: 200 }),
      align: fc.constantFrom(1, 4, 16, 64, 4096),
    });
    fc.assert(
      fc.property(arb, ({ profile, kind, top, slack, align }) => {
        const m = model(profile);
        const k = frameKinds[kind];
        const t = top - (top % BigInt(align));
        const task = taskFpu(m.k, m.era, IA32, k.abi, 'none');
        const need = frameFit(k, align, task, m.k, IA32);
        const exact = Number(t - frameGeometry(k, t, task, m.k, IA32).frame) + 1;
        assert.ok(exact <= need.fits, 'the aligned worst case covers this top');
        const ssSize = BigInt(exact + slack);
        const p = getSigframe(
          k,
          { sp: t - 100000n, onstack: true, altstack: { sp: t - ssSize, size: ssSize } },
          task,
          m.k,
          m.era,
          IA32,
        );
        assert.equal(p.outcome, slack >= 0 ? 'delivered' : 'sigsegv');
        assert.equal(p.bufFx % 64n, 0n);
        assert.equal((p.frame + BigInt(k.entryAlign.sub)) % 16n, 0n, 'the psABI entry alignment');
        assert.ok(p.magic2 === null || p.magic2 + 4n <= t, 'MAGIC2 stays below the top');
        assert.ok(
          p.fpstate - p.frame >= BigInt(sizeOf(k.struct, dataModels.lp64)),
          'struct below the FP state',
        );
      }),
    );
  });

  test('on the normal stack 64-bit frames skip the red zone, ia32 frames do not', () => {
    const m = model('amd-epyc-zen4-kvm');
    const task = taskFpu(m.k, m.era, IA32, 'x86_64', 'none');
    const sp = 0x7ffd_0000_0000n;
    const p64 = getSigframe(frameKinds.x86_64, { sp, onstack: false }, task, m.k, m.era, IA32);
    assert.equal(p64.start, sp - 128n);
    assert.equal(p64.frame, ((sp - 128n - 2436n) & ~63n) - 456n, 'M6.18 redzone.c');
    const p32 = getSigframe(frameKinds['ia32-rt'], { sp, onstack: false }, task, m.k, m.era, IA32);
    assert.equal(p32.start, sp);
  });

  test('pre-6.2 ia32 frames and pre-5.14 first signals overrun a small alt stack instead of SIGSEGV', () => {
    const task = { userSize: 2432 };
    const d = { sp: 0x1000_0000n, onstack: true, altstack: { sp: 0x2000_0000n, size: 2048n } };
    const at = (v: string, kind: FrameKindName) => {
      const m = model('amd-epyc-zen4-kvm', v);
      return getSigframe(frameKinds[kind], d, task, m.k, m.era, IA32).outcome;
    };
    assert.equal(at('6.2', 'ia32-rt'), 'sigsegv');
    assert.equal(at('6.1', 'ia32-rt'), 'overrun');
    assert.equal(at('5.14', 'x86_64'), 'sigsegv');
    assert.equal(at('5.13', 'x86_64'), 'overrun');
  });
});

describe('hazards are true statements', () => {
  test('over every profile × era × config × ABI × AMX state: each hazard holds in its own report, and every rule that holds is reported', () => {
    const configs: KernelConfig[] = [IA32, NO_IA32, I386, { bits: 64, strictSasSize: true }];
    const libcs = libcReleases.map((r) => parseLibcChoice(`${r.libc}-${r.since}`));
    let reports = 0;
    let hazards = 0;
    const seen = new Set<string>();
    for (const name of profileNames) {
      for (const era of kernelEras) {
        for (const config of configs) {
          const m = model(name, era.since, config);
          for (const kind of kinds) {
            for (const amx of amxStates) {
              let r: ReturnType<typeof sizeReport>;
              const libc = libcs[reports % libcs.length]!;
              try {
                r = sizeReport(m.p, m.kernel, { kind, topAlign: PAGE, config }, amx, { libc });
              } catch (e) {
                if (e instanceof SigframeError) continue; // an impossible target, refused with its reason
                throw e;
              }
              reports++;
              // The statements are checked against the JSON a user reads, not the objects.
              const j = JSON.parse(toJson(r)) as Record<string, unknown>;
              const where = `${name} ${era.label} ${JSON.stringify(config)} ${kind} ${amx} ${libc.libc}-${libc.version}`;
              const scopes = [
                {
                  scope: 'process' as const,
                  list: j.hazards as Record<string, unknown>[],
                  ctx: { libc: r.libc_selected.index },
                },
                ...(j.states as { hazards: Record<string, unknown>[] }[]).map((st, i) => ({
                  scope: 'state' as const,
                  list: st.hazards,
                  ctx: { i, libc: r.libc_selected.index },
                })),
              ];
              for (const { scope, list, ctx } of scopes) {
                for (const h of list as {
                  code: string;
                  message: string;
                  op: '<' | '<=' | '!=';
                  left: { path?: string; value: number | string };
                  right: { path?: string; value: number | string };
                }[]) {
                  for (const side of [h.left, h.right]) {
                    if (side.path !== undefined)
                      assert.equal(valueAt(j, side.path), side.value, `${where}: ${h.code} ${side.path}`);
                    if (typeof side.value === 'number')
                      assert.ok(h.message.includes(String(side.value)), `${where}: ${h.message}`);
                  }
                  assert.ok(compare(h.left.value, h.op, h.right.value), `${where}: ${h.message}`);
                  hazards++;
                  seen.add(h.code);
                }
                // No rule that holds is left out, and none that does not hold is printed.
                for (const rule of hazardRules.filter((x) => x.scope === scope)) {
                  const val = (o: typeof rule.left) =>
                    'value' in o ? o.value : valueAt(j, rulePath(o.path, ctx));
                  const l = val(rule.left);
                  const rr = val(rule.right);
                  const holds =
                    (typeof l === 'number' || typeof l === 'string') &&
                    (typeof rr === 'number' || typeof rr === 'string') &&
                    compare(l, rule.op, rr);
                  assert.equal(
                    list.filter((h) => h.code === rule.code).length,
                    holds ? 1 : 0,
                    `${where}: ${rule.code}`,
                  );
                }
              }
              assert.ok(!JSON.stringify(j.hazards).includes('sigframe bug'));
            }
          }
        }
      }
    }
    assert.ok(reports > 1000, `${reports} reports`);
    assert.ok(hazards > 1000, `${hazards} hazards`);
    assert.deepEqual([...seen].sort(), hazardRules.map((r) => r.code).sort(), 'every rule fires somewhere');
  });
});

describe('the four sizes are named once', () => {
  test('README defines each as terms.ts does, and the table uses its column', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const t of sizeTerms) {
      assert.ok(
        readme.includes(`- \`${t.key}\` (column \`${t.column}\`): ${t.meaning}`),
        `README "The four sizes" lists ${t.key} with its meaning from src/report/terms.ts`,
      );
    }
  });
});
