import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { muslSkipReason, runLibcExperiment } from '../src/host/libc.js';
import { probeHost } from '../src/host/probe.js';
import { hostProfile } from '../src/host/profile.js';
import { runningSystem } from '../src/host/system.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { compareLibcWithKernel } from '../src/report/measure.js';
import { hostSkipReason } from './support/helpers.js';

// Live: native/libc.c linked with the system glibc and, where musl-gcc exists, statically with
// musl. What each answers — sysconf(_SC_MINSIGSTKSZ/_SC_SIGSTKSZ) and the smallest size its
// sigaltstack() lets through — must be the libc table's row for that library's version, on
// this host's CPU and kernel.
const skip = hostSkipReason();

function check(libc: 'glibc' | 'musl') {
  const p = hostProfile();
  const kernel = chooseKernel(undefined, probeHost().release);
  const { config } = runningSystem();
  const exp = runLibcExperiment(libc);
  const checks = compareLibcWithKernel(
    exp,
    kernelXfeatures(p.cpuid, p.xsave, kernel.era, config),
    kernel,
    config,
  );
  assert.equal(checks.length, 3);
  const bad = checks.filter((c) => !c.ok);
  assert.deepEqual(bad, [], bad.map((c) => `${c.what}: model ${c.model}, measured ${c.kernel}`).join('\n'));
  assert.equal(exp.errno_below, 12, 'ENOMEM one byte below the minimum');
  return exp;
}

describe('C libraries on the live host', { skip }, () => {
  test('glibc: the row for its version, and the version the probe reports', () => {
    const exp = check('glibc');
    assert.equal(exp.version, probeHost().glibc);
  });

  test('musl (musl-gcc -static): the row for its version', { skip: skip ?? muslSkipReason() }, () => {
    const exp = check('musl');
    assert.match(exp.version ?? '', /^\d+\.\d+\.\d+$/);
  });
});
