import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { magicCheckRule } from '../layouts/kernels.js';
import { XFEATURE_MASK } from '../layouts/xfeatures.js';
import { decodeFrame } from '../src/frame/decode.js';
import type { Verdict } from '../src/frame/sigreturn.js';
import { emulatedCpu } from '../src/host/probe.js';
import { hostProfile } from '../src/host/profile.js';
import { loadFrame } from '../src/io/frames.js';
import { chooseKernel, ruleAt } from '../src/kernel/eras.js';
import { type Profile, profileFromFile } from '../src/profile/profile.js';
import { type SigreturnExperiment, sigreturnSchema } from '../src/report/experiments.js';
import {
  compareSigreturnWithKernel,
  experimentFrames,
  type SigreturnCheck,
} from '../src/report/sigreturn-check.js';
import { loadProfileFrom } from './support/frames.js';
import { fixture, hostSkipReason, targetSkipReason } from './support/helpers.js';

// native/sigreturn.c edits a frame in its own handler in one of ~75 ways, one child per edit, and
// records what the kernel did; test/fixtures/sigreturn/ holds runs committed from real machines
// (each directory's README says which CPU and kernel). The model must predict every outcome:
// the signal and its phase, or which x87, SSE and AVX state and which MXCSR came back.

const read = (file: string): SigreturnExperiment =>
  sigreturnSchema.parse(JSON.parse(readFileSync(file, 'utf8')), file);

function disagreements(checks: readonly SigreturnCheck[]): string[] {
  return checks
    .filter((c) => !c.ok)
    .map(
      (c) =>
        `${c.kind} ${c.edit}:\n  kernel ${c.kernel}\n  model  ${c.model}\n  (${c.verdict.verdict}: ${c.verdict.reason})`,
    );
}

/** What the runs exercised: every class of verdict, both phases of SIGSEGV and both traps. */
function outcomesOf(checks: readonly SigreturnCheck[]): Set<string> {
  return new Set(
    checks.map((c) => {
      const v: Verdict = c.verdict;
      return v.verdict === 'sigsegv' ? `sigsegv/${v.phase}${v.trap ? `/${v.trap}` : ''}` : v.verdict;
    }),
  );
}

function checkRuns(dir: string, profile: Profile, runs: readonly SigreturnExperiment[]) {
  const checks = runs.flatMap((exp) =>
    compareSigreturnWithKernel(exp, profile, chooseKernel(exp.release), { bits: 64 }),
  );
  assert.deepEqual(disagreements(checks), [], dir);
  return checks;
}

const machines = readdirSync(fixture('sigreturn'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => join(fixture('sigreturn'), e.name));

describe('sigreturn verdicts against the kernel’s outcomes (test/fixtures/sigreturn)', () => {
  test('fixtures are there', () => assert.ok(machines.length >= 1));
  for (const dir of machines) {
    test(`${dir.split('/').pop()}: every edit, on x86_64, ia32 rt and ia32 legacy frames`, () => {
      const runs = ['x86_64.json', 'ia32.json'].map((f) => read(join(dir, f)));
      const checks = checkRuns(dir, loadProfileFrom(dir), runs);
      for (const kind of ['x86_64', 'ia32-rt', 'ia32'] as const) {
        const n = new Set(checks.filter((c) => c.kind === kind).map((c) => c.edit)).size;
        assert.ok(n >= 50, `${kind}: ${n} distinct edits`);
      }
      assert.deepEqual([...outcomesOf(checks)].sort(), [
        'full',
        'fx-only',
        'init',
        'partial',
        'sigsegv/return/#GP',
        'sigsegv/return/#PF',
        'sigsegv/sigreturn',
        'sigtrap',
      ]);
    });
  }

  test('the rules behind a few outcomes, by name', () => {
    const dir = machines.find((d) => d.endsWith('amd-epyc-zen4'))!;
    const profile = loadProfileFrom(dir);
    const exp = read(join(dir, 'x86_64.json'));
    const v = (edit: string, kernel = exp.release) => {
      const f = experimentFrames(exp).find((x) => x.result.edit === edit)!;
      return decodeFrame({
        memory: f.memory,
        kind: 'x86_64',
        profile,
        kernel: chooseKernel(kernel),
        config: { bits: 64 },
      }).verdict;
    };
    assert.equal(v('none').verdict, 'full');
    // A valid compacted image: XRSTOR's compacted form, not a fault.
    assert.equal(v('xcomp_bv_compacted').image?.format, 'compacted');
    // MXCSR is judged against MXCSR_MASK (bit 17 is allowed on this CPU) and only when loaded.
    assert.equal(v('mxcsr_bit17').verdict, 'full');
    assert.equal(v('mxcsr_bit31').phase, 'sigreturn');
    assert.deepEqual(v('mxcsr_bad_xfeatures_fp').mxcsr, { source: 'init', value: 0x1f80 });
    assert.equal(v('xfeatures_fp').verdict, 'partial');
    assert.equal(v('xfeatures_fp').init & XFEATURE_MASK.SSE, XFEATURE_MASK.SSE);
    // The return to user mode: IRET refuses, or the first access faults, after a good rt_sigreturn.
    assert.deepEqual([v('cs_zero').phase, v('cs_zero').trap], ['return', '#GP']);
    assert.deepEqual([v('ip_zero').phase, v('ip_zero').trap], ['return', '#PF']);
    assert.equal(v('flags_tf').verdict, 'sigtrap');
    assert.equal(v('ss_zero_lax').resumes?.ss, 0x2b, 'force_valid_ss()');
  });

  test('a thread that used AMX (Intel guest): tmm0 comes back from the frame, as zero, or unconfigured, as the model reads the frame', () => {
    const dir = machines.find((d) => d.endsWith('intel-xeon-amx'))!;
    const exp = read(join(dir, 'x86_64.json'));
    const amx = checkRuns(dir, loadProfileFrom(dir), [exp]).filter((c) => c.amx === 'used');
    assert.ok(amx.length >= 75, `${amx.length} edits on AMX frames`);
    const tmm0 = new Set(amx.map((c) => /tmm0 (\w+)/.exec(c.kernel)?.[1]).filter(Boolean));
    assert.deepEqual([...tmm0].sort(), ['edited', 'init', 'pattern', 'zero']);
    const by = (edit: string) => amx.find((c) => c.edit === edit)!;
    // Every AMX frame carries the task's whole image: 11008 bytes with the tiles.
    assert.ok(by('none').verdict.restored & XFEATURE_MASK.XTILE);
    assert.match(by('xfeatures_no_tiles').kernel, /tmm0 init/);
    // XRSTOR takes an invalid TILECFG (here zmm bytes read at the compacted offset) without a
    // fault and leaves the tiles unconfigured.
    const compacted = by('xcomp_bv_compacted');
    assert.match(compacted.kernel, /tmm0 init/);
    assert.ok(compacted.verdict.steps.some((x) => /not a valid tile configuration/.test(x.result)));
  });

  test('32-bit code with RIP beyond 4 GiB: AMD’s IRET refuses it (#GP), Intel’s resumes at EIP and the fetch faults there', () => {
    const dir = (name: string) => machines.find((d) => d.endsWith(name))!;
    const intel = dir('intel-xeon-amx');
    const amd = dir('amd-epyc-zen4');
    const exp = read(join(intel, 'x86_64.json'));
    const f = experimentFrames(exp).find((x) => x.result.edit === 'cs_user32_ip_high')!;
    assert.deepEqual([f.result.trapno, f.result.si_addr], [14, 0x1000n], 'what the Intel CPU did');
    const on = (profile: Profile) =>
      decodeFrame({
        memory: f.memory,
        kind: 'x86_64',
        profile,
        kernel: chooseKernel(exp.release),
        config: { bits: 64 },
      }).verdict;
    const i = on(loadProfileFrom(intel));
    assert.deepEqual([i.trap, i.fault, i.resumes?.ip, i.resumes?.mode], ['#PF', 'fetch', 0x1000n, 32]);
    // The same frame judged for the AMD CPU: the vendor decides, not the frame.
    assert.equal(on(loadProfileFrom(amd)).trap, '#GP');
    // A vendor the table does not know gets AMD's rule, and a note saying so.
    const p = loadProfileFrom(intel);
    const word = (s: string) => Buffer.from(s, 'latin1').readUInt32LE(0);
    const centaur = profileFromFile({
      ...p.file,
      cpuid: p.file.cpuid.map((r) =>
        r.leaf === 0 ? { ...r, ebx: word('Cent'), edx: word('aurH'), ecx: word('auls') } : r,
      ),
    });
    const c = on(centaur);
    assert.equal(c.trap, '#GP');
    assert.match(c.notes.join('\n'), /CentaurHauls\) is not in sigframe's IRET table/);
    const g = experimentFrames(read(join(amd, 'x86_64.json'))).find((x) => x.result.edit === 'cs_user32')!;
    assert.equal(g.result.trapno, 13, 'what the AMD CPU did');
  });

  test('an AMD Zen 4 frame’s XSAVE image given to the Intel guest’s rt_sigreturn: restored at Intel’s offsets, as the model reads it', () => {
    const dir = machines.find((d) => d.endsWith('intel-xeon-amx'))!;
    const exp = read(join(dir, 'x86_64.json'));
    const f = experimentFrames(exp).find((x) => x.result.edit === 'transplant')!;
    const c = checkRuns(dir, loadProfileFrom(dir), [exp]).find((x) => x.edit === 'transplant')!;
    assert.ok(c.ok, `${c.kernel}\n${c.model}`);
    assert.match(c.kernel, /k0 0x[0-9a-f]+, zmm0_hi [0-9a-f]{64}, xmm16 [0-9a-f]{32}$/);
    assert.equal(c.verdict.verdict, 'full', 'the Zen 4 image passes every check of this kernel');
    // What came back in k0 is not the Zen 4 frame's k0: XRSTOR took OPMASK from Intel's offset,
    // where AMD's layout keeps ZMM_Hi256.
    const amd = loadFrame(fixture('frames', 'x86_64-sigusr1-vectors.json')).decoded;
    assert.notEqual(f.result.k0, amd.registers!.k![0]);
    assert.ok(f.result.k0 !== undefined && f.result.k0 !== 0n);
  });

  test('check_xstate_in_sigframe() follows --kernel: the 2025 rule and its revert, in stable branches too', () => {
    const dir = machines.find((d) => d.endsWith('amd-epyc-zen4'))!;
    const profile = loadProfileFrom(dir);
    const exp = read(join(dir, 'x86_64.json'));
    const f = experimentFrames(exp).find((x) => x.result.edit === 'xstate_size_less64')!;
    const on = (kernel: string) =>
      decodeFrame({
        memory: f.memory,
        kind: 'x86_64',
        profile,
        kernel: chooseKernel(kernel),
        config: { bits: 64 },
      }).verdict.verdict;
    // xstate_size − 64 moves the frame's own MAGIC2 off: the full check falls back to fx-only;
    // the refined one (magic1, then MAGIC2 at the task's user_size) restores everything.
    for (const k of ['6.14.11', '6.18.35', '6.18.44', '7.0.12', '7.1', '7.3.4'])
      assert.equal(on(k), 'fx-only', k);
    for (const k of ['6.15', '6.17.13', '6.18.34', '6.19.14', '7.0.0', '7.0.11'])
      assert.equal(on(k), 'full', k);
  });
});

// The same experiment run here and now, and held to the model for the CPU it runs on.
describe('sigreturn verdicts against the live kernel', { skip: hostSkipReason() }, () => {
  // What XRSTOR restores, and which header it refuses, is the CPU's part of the verdict.
  const emulator = hostSkipReason() ? undefined : emulatedCpu();
  const onEmulator = emulator
    ? `this CPU is emulated (${emulator}): what its XRSTOR restores or refuses is the emulator's, not a CPU's`
    : undefined;
  for (const [abi, skip] of [
    ['x86_64', onEmulator],
    ['ia32', onEmulator ?? targetSkipReason('-m32')],
  ] as const) {
    test(`${abi}: every edit agrees with the model`, { skip }, async () => {
      const { runSigreturnExperiment } = await import('../src/host/sigreturn.js');
      const { transplantImage } = await import('../src/io/sigreturn.js');
      // On an AVX-512 CPU the 64-bit run also restores the Zen 4 capture's image (XCR0 0xe7): on
      // Intel parts at Intel's offsets, on AMD ones at its own.
      const { probeHost } = await import('../src/host/probe.js');
      const avx512 = ((probeHost().xcr0 ?? 0n) & 0xe7n) === 0xe7n;
      const transplant = avx512
        ? transplantImage(fixture('frames', 'x86_64-sigusr1-vectors.json'))
        : undefined;
      const exp = runSigreturnExperiment(abi, transplant ? { transplant } : {});
      if (exp.error) return assert.match(exp.error, /no AVX/);
      const checks = checkRuns('live', hostProfile(), [exp]);
      assert.ok(checks.length >= 50);
      if (abi === 'x86_64') {
        // Which check_xstate_in_sigframe() this kernel has, from what it did with a frame whose
        // xstate_size no longer points at MAGIC2 — and the model's rule for its version.
        const r = exp.results!.find((x) => x.edit === 'xstate_size_less64')!;
        const rule = r.ymm0_high === 'pattern' ? 'task' : 'frame';
        assert.equal(rule, ruleAt(magicCheckRule, chooseKernel(exp.release)).value, exp.release);
      }
    });
  }
});
