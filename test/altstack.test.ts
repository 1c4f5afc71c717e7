import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AltstackExperiment, runAltstackExperiment } from '../src/host/altstack.js';
import { hostAtMinsigstksz } from '../src/host/auxv.js';
import { HostError } from '../src/host/native.js';
import { probeHost } from '../src/host/probe.js';
import { hostProfile } from '../src/host/profile.js';
import { runningSystem } from '../src/host/system.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { deliveryMinimum, sigaltstackMinAccepted } from '../src/kernel/signal.js';
import { taskFpu } from '../src/kernel/task.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { compareWithKernel } from '../src/report/measure.js';
import { amxSkipReason, hostSkipReason, targetSkipReason } from './support/helpers.js';

// Live: native/altstack.c finds by experiment, one child process per try, the smallest alt stack
// the running kernel delivers a signal on (for eleven top residues), what sigaltstack() accepts,
// and — where the CPU has AMX — the permission thresholds and frames before and after tile use.
// The model must give exactly those numbers for this host's CPUID.
const skip = hostSkipReason();

function hostModel() {
  const p = hostProfile();
  const kernel = chooseKernel(undefined, probeHost().release);
  const { config } = runningSystem();
  const k = kernelXfeatures(p.cpuid, p.xsave, kernel.era, config);
  // What sigaltstack() accepts from a process without AMX permission, as the model has it.
  const admission = (abi: 'x86_64' | 'ia32') =>
    sigaltstackMinAccepted(k, kernel.era, config, taskFpu(k, kernel.era, config, abi, 'none'));
  return { kernel, config, k, admission };
}

function checkAgainstModel(exp: AltstackExperiment) {
  const { k, kernel, config } = hostModel();
  const checks = compareWithKernel(exp, k, kernel, config);
  const bad = checks.filter((c) => !c.ok);
  assert.deepEqual(bad, [], bad.map((c) => `${c.what}: model ${c.model}, kernel ${c.kernel}`).join('\n'));
  return checks;
}

describe('signal delivery on the live kernel', { skip }, () => {
  let exp64: AltstackExperiment | undefined;
  const run64 = () => {
    exp64 ??= runAltstackExperiment('x86_64');
    return exp64;
  };

  test('x86-64: smallest alt stack per top residue, frame position and sw_reserved match the model', () => {
    const exp = run64();
    assert.equal(exp.delivery.length, 11);
    const admission = hostModel().admission('x86_64');
    for (const row of exp.delivery) {
      assert.equal(row.error, 0, `helper error at residue ${row.top_residue}`);
      assert.equal(row.delivered_at_min, 1);
      // Delivery iff the frame starts above ss_sp and sigaltstack() took the size: on CPUs whose
      // frames are smaller than MINSIGSTKSZ the second rule decides.
      assert.equal(
        row.min_ss_size,
        deliveryMinimum(row.frame_below_top + 1, admission),
        `residue ${row.top_residue}: frame ${row.frame_below_top} bytes below the top`,
      );
      assert.equal(row.magic1, 0x46505853n);
    }
    assert.ok(checkAgainstModel(exp).length > 50);
  });

  test('AT_MINSIGSTKSZ: the helper’s getauxval() and /proc/self/auxv agree', () => {
    assert.equal(run64().at_minsigstksz ?? undefined, hostAtMinsigstksz());
  });

  test('sigaltstack() without AMX permission: the model’s minimum, ENOMEM one byte below', () => {
    const s = run64().sigaltstack;
    assert.equal(s.min_accepted, hostModel().admission('x86_64').minAccepted);
    assert.ok(s.min_accepted >= 2048, 'never below MINSIGSTKSZ');
    assert.equal(s.errno_below, 12);
  });

  test('AMX: permission thresholds and frames before/after the first tile instruction', {
    skip:
      skip ?? amxSkipReason('the permission rules are checked against the Sapphire Rapids profile instead'),
  }, () => {
    const amx = run64().amx;
    assert.ok(amx, 'the helper reports AMX');
    assert.equal(amx.req_perm, 0);
    assert.ok(amx.sigaltstack_min_accepted !== undefined && amx.req_ok_min_ss_size !== undefined);
    assert.equal(amx.frames?.length, 44);
    // The two admission thresholds differ by the 116 bytes of MAGIC2 and the FSAVE header.
    assert.equal(amx.req_ok_min_ss_size - (amx.sigaltstack_min_accepted - 1), 116);
    checkAgainstModel(run64());
  });

  const no32 = skip ?? targetSkipReason('-m32');
  test('ia32: legacy and rt frames, per top residue', { skip: no32 }, (t) => {
    let exp: AltstackExperiment;
    try {
      exp = runAltstackExperiment('ia32');
    } catch (e) {
      if (e instanceof HostError && /exited with|ENOEXEC|Exec format/.test(e.message)) {
        t.skip(`ia32 binaries do not run here: ${e.message.split('\n')[0]}`);
        return;
      }
      throw e;
    }
    assert.equal(exp.delivery.length, 22);
    const admission = hostModel().admission('ia32');
    for (const row of exp.delivery)
      assert.equal(
        row.min_ss_size,
        deliveryMinimum(row.frame_below_top + 1, admission),
        `${row.kind} ${row.top_residue}`,
      );
    assert.ok(checkAgainstModel(exp).length > 80);
  });
});
