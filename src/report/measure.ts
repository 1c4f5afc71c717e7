import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { XFEATURE, XFEATURE_MASK } from '../../layouts/xfeatures.js';
import type { KernelChoice } from '../kernel/eras.js';
import { mathFrameSize } from '../kernel/fpu_signal.js';
import {
  atMinsigstksz,
  bytesBelowTop,
  deliveryMinimum,
  requestXcompPerm,
  sigaltstackMinAccepted,
} from '../kernel/signal.js';
import { type AmxState, possibleAmxStates, type TaskFpu, taskFpu } from '../kernel/task.js';
import type { KernelConfig, KernelXfeatures } from '../kernel/xstate.js';
import { libcRelease, libcRow } from '../libc/sysconf.js';
import { has } from '../xsave/catalog.js';
import type { AltstackExperiment, LibcExperiment } from './experiments.js';

/** One number the model predicts and the live kernel reported. */
export interface KernelCheck {
  readonly what: string;
  readonly model: number | string;
  readonly kernel: number | string;
  readonly ok: boolean;
}

const ERRNO: Record<number, string> = { 22: 'EINVAL', 28: 'ENOSPC', 95: 'EOPNOTSUPP', 12: 'ENOMEM' };

/**
 * Compares native/altstack.c's measurements with the model: AT_MINSIGSTKSZ, glibc's sysconf,
 * sigaltstack() admission, the smallest alt stack each frame kind is delivered on for each top
 * residue, where the frame starts, what sw_reserved says, and the AMX permission outcomes.
 */
export function compareWithKernel(
  exp: AltstackExperiment,
  k: KernelXfeatures,
  kernel: KernelChoice,
  config: KernelConfig,
): KernelCheck[] {
  const era = kernel.era;
  const abi = exp.abi;
  const out: KernelCheck[] = [];
  const check = (what: string, model: number | string, measured: number | string) =>
    out.push({ what, model, kernel: measured, ok: model === measured });
  const at = atMinsigstksz(k, era, config);
  check(`${abi}: getauxval(AT_MINSIGSTKSZ)`, at ?? 'absent', exp.at_minsigstksz ?? 'absent');
  const none = taskFpu(k, era, config, abi, 'none');
  const admission = sigaltstackMinAccepted(k, era, config, none);
  if (exp.glibc) {
    // The helper prints these only where <unistd.h> has the names: glibc 2.34 or later.
    const g = libcRow(libcRelease('glibc', '2.34'), at, k, abi, admission.minAccepted);
    check(`${abi}: glibc sysconf(_SC_MINSIGSTKSZ)`, g.sc_minsigstksz ?? 'absent', exp.glibc.sc_minsigstksz);
    check(`${abi}: glibc sysconf(_SC_SIGSTKSZ)`, g.sc_sigstksz ?? 'absent', exp.glibc.sc_sigstksz);
  }
  check(
    `${abi}: smallest ss_size sigaltstack() accepts`,
    admission.minAccepted,
    exp.sigaltstack.min_accepted,
  );

  const top = (residue: number) => (1n << 32n) + BigInt(residue);
  const frameChecks = (
    label: string,
    kindName: FrameKindName,
    task: TaskFpu,
    row:
      | AltstackExperiment['delivery'][number]
      | NonNullable<NonNullable<AltstackExperiment['amx']>['frames']>[number],
  ) => {
    const kind = frameKinds[kindName];
    check(
      `${label}: bytes below the top`,
      bytesBelowTop(kind, top(row.top_residue), task, k, config),
      row.frame_below_top,
    );
    if (!row.has_fp) return;
    const ext = mathFrameSize(task.userSize, kind.fsaveHeader, k);
    check(`${label}: sw_reserved.xstate_size`, task.userSize, row.xstate_size);
    check(`${label}: sw_reserved.extended_size`, ext, row.extended_size);
    check(
      `${label}: sw_reserved.xfeatures`,
      `0x${task.userXfeatures.toString(16)}`,
      `0x${row.xfeatures.toString(16)}`,
    );
  };
  for (const row of exp.delivery) {
    const label = `${row.kind} frame, top ≡ ${row.top_residue} (mod 64)`;
    check(
      `${label}: smallest ss_size delivered`,
      deliveryMinimum(
        bytesBelowTop(frameKinds[row.kind], top(row.top_residue), none, k, config) + 1,
        admission,
      ),
      row.error === 0 ? row.min_ss_size : `helper error ${row.error}`,
    );
    frameChecks(label, row.kind, none, row);
  }

  const amx = exp.amx;
  if (amx) {
    const req = requestXcompPerm(k, era, config, XFEATURE.XTILE_DATA);
    check(
      'ARCH_REQ_XCOMP_PERM(18)',
      req.result === 0 ? 0 : req.result,
      amx.req_perm === 0 ? 0 : (ERRNO[amx.req_errno] ?? `errno ${amx.req_errno}`),
    );
    const states = possibleAmxStates(k, era, config, 'x86_64');
    if (amx.sigaltstack_min_accepted !== undefined && states.includes('permitted')) {
      const permitted = taskFpu(k, era, config, 'x86_64', 'permitted');
      check(
        'smallest ss_size sigaltstack() accepts with AMX permission',
        sigaltstackMinAccepted(k, era, config, permitted).minAccepted,
        amx.sigaltstack_min_accepted,
      );
    }
    if (amx.req_ok_min_ss_size !== undefined && req.enospcBelow !== undefined) {
      check(
        'smallest existing alt stack ARCH_REQ_XCOMP_PERM accepts',
        req.enospcBelow,
        amx.req_ok_min_ss_size,
      );
    }
    for (const row of amx.frames ?? []) {
      const state: AmxState = row.amx === 'used_released' ? 'used' : row.amx;
      if (!states.includes(state)) continue;
      const label = `x86_64 frame, AMX ${row.amx}, top ≡ ${row.top_residue} (mod 64)`;
      check(`${label}: delivered`, 1, row.delivered);
      frameChecks(label, 'x86_64', taskFpu(k, era, config, 'x86_64', state), row);
      // Tiles in INIT are skipped (XSTATE_BV bits clear); a loaded TILECFG is written.
      if (row.amx === 'used_released')
        check(
          `${label}: XSTATE_BV tile bits`,
          '0x0',
          `0x${(row.xstate_bv & XFEATURE_MASK.XTILE).toString(16)}`,
        );
      if (row.amx === 'used')
        check(`${label}: XSTATE_BV has TILECFG`, 1, has(row.xstate_bv, XFEATURE.XTILE_CFG) ? 1 : 0);
    }
  }
  return out;
}

/**
 * Compares native/libc.c's answers — sysconf and what sigaltstack() lets through, linked with a
 * C library of a known version — with that release's row of the libc table.
 */
export function compareLibcWithKernel(
  exp: LibcExperiment & { readonly version: string },
  k: KernelXfeatures,
  kernel: KernelChoice,
  config: KernelConfig,
): KernelCheck[] {
  const at = atMinsigstksz(k, kernel.era, config);
  const kernelMin = sigaltstackMinAccepted(
    k,
    kernel.era,
    config,
    taskFpu(k, kernel.era, config, 'x86_64', 'none'),
  );
  const row = libcRow(libcRelease(exp.libc, exp.version), at, k, 'x86_64', kernelMin.minAccepted);
  const label = `${exp.libc} ${exp.version} (row ${row.versions})`;
  return [
    ['sysconf(_SC_MINSIGSTKSZ)', row.sc_minsigstksz, exp.sc_minsigstksz],
    ['sysconf(_SC_SIGSTKSZ)', row.sc_sigstksz, exp.sc_sigstksz],
    ['smallest ss_size sigaltstack() accepts', row.sigaltstack_min, exp.sigaltstack_min],
  ].map(([what, model, measured]) => {
    const m = model ?? 'absent';
    const v = measured ?? 'absent';
    return {
      what: `${label}: ${what}`,
      model: m as number | string,
      kernel: v as number | string,
      ok: m === v,
    };
  });
}
