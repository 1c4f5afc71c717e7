import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hostAtMinsigstksz } from '../src/host/auxv.js';
import { parseFpuBootLog, readKernelLog } from '../src/host/dmesg.js';
import { probeHost } from '../src/host/probe.js';
import { hostProfile } from '../src/host/profile.js';
import { chooseKernel } from '../src/kernel/eras.js';
import { kernelXfeatures } from '../src/kernel/xstate.js';
import { sizeChecks } from '../src/profile/checks.js';
import { bitsOf, xfeature } from '../src/xsave/catalog.js';
import { xsaveLayout } from '../src/xsave/layout.js';
import { hostSkipReason } from './support/helpers.js';

// Live: whatever machine runs the tests. Every expectation comes from this host's kernel.
const skip = hostSkipReason();

describe('the live host', { skip }, () => {
  const probe = () => probeHost();
  const model = () => {
    const p = hostProfile();
    return {
      p,
      k: kernelXfeatures(p.cpuid, p.xsave, chooseKernel(undefined, probe().release).era, { bits: 64 }),
    };
  };

  test('the model predicts the XCR0 the kernel wrote (XGETBV(0)) and reports (ARCH_GET_XCOMP_SUPP)', () => {
    const { k } = model();
    assert.ok(probe().xcr0 !== undefined, 'OSXSAVE is set on any XSAVE-capable Linux host');
    assert.equal(k.xcr0, probe().xcr0);
    if (probe().xcompSupp !== undefined) assert.equal(k.xcr0, probe().xcompSupp);
  });

  test('CPUID.(0xD,0).EBX, ECX and (0xD,1).EBX recomputed from the subleaves', () => {
    const checks = sizeChecks(hostProfile());
    assert.ok(checks.length >= 2);
    for (const c of checks)
      assert.equal(c.status, 'ok', `${c.field}: CPUID ${c.cpuid}, computed ${c.computed}`);
    // max_size is EBX with the kernel's XCR0 in force.
    assert.equal(model().k.maxSize, hostProfile().xsave.sizeXcr0);
  });

  test('AT_MINSIGSTKSZ from /proc/self/auxv equals getauxval() in the probe', () => {
    const fromNode = hostAtMinsigstksz();
    assert.equal(fromNode, probe().atMinsigstksz);
    if (fromNode !== undefined) assert.ok(fromNode >= 1000 && fromNode < 65536, `AT_MINSIGSTKSZ ${fromNode}`);
  });

  const log = readKernelLog();
  const boot = log === undefined ? undefined : parseFpuBootLog(log);
  // The ring buffer rotates: after long uptime with many logged faults the first x86/fpu lines
  // can be gone while the later "Enabled xstate features" line is still there.
  const noBootLog = !boot?.enabled
    ? 'the kernel log (dmesg) is not readable here or has rotated past boot'
    : boot.features.length === 0
      ? 'the kernel log has rotated past the "x86/fpu: Supporting XSAVE feature" lines of boot'
      : undefined;

  test("the kernel's boot log: features, names, context size and offsets", { skip: noBootLog }, () => {
    const { p, k } = model();
    const b = boot!;
    // User features announced at boot are exactly XCR0; names match the component table.
    const announcedUser = b.features
      .filter((f) => xfeature(bitsOf(f.mask)[0]!)?.kind === 'user')
      .reduce((m, f) => m | f.mask, 0n);
    assert.equal(announcedUser, k.xcr0);
    for (const f of b.features) {
      const spec = xfeature(bitsOf(f.mask)[0]!);
      if (spec?.kind === 'user') assert.equal(f.name, spec.dmesg, `dmesg name of ${spec.name}`);
    }
    // The kernel's own XSAVE buffer (user + supervisor) in its own format: same size and offsets.
    const enabled = b.enabled!;
    const l = xsaveLayout(p.xsave, enabled.mask, enabled.format);
    assert.equal(l.size, enabled.size);
    for (const o of b.offsets) {
      const r = l.regions.find((x) => x.nr === o.nr);
      assert.deepEqual([r?.offset, r?.size], [o.offset, o.size], `xstate_offset[${o.nr}]`);
    }
    assert.ok(b.offsets.length > 0);
  });
});
