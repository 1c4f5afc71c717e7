import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import type { SignalState } from '../../src/frame/state.js';
import { probeHost } from '../../src/host/probe.js';
import { INIT_PKRU_VALUE } from '../../src/kernel/task.js';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixture = (...parts: string[]) => join(root, 'test', 'fixtures', ...parts);
export const readFixture = (...parts: string[]) => readFileSync(fixture(...parts), 'utf8');

/** Why a live test cannot run here, or undefined when it can. */
export function hostSkipReason(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `needs x86-64 Linux, this is ${process.platform}/${process.arch}`;
  const cc = spawnSync(process.env.CC ?? 'cc', ['--version'], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) return 'no C compiler (cc) to build the probe';
  return undefined;
}

/**
 * Why a live AMX test cannot run here (call it only where hostSkipReason() is undefined): the
 * kernel must offer tile data (ARCH_GET_XCOMP_SUPP, as the probe reads it).
 */
export function amxSkipReason(instead?: string): string | undefined {
  const supp = probeHost().xcompSupp;
  if (supp !== undefined && (supp >> 18n) & 1n) return undefined;
  return `this CPU/kernel offers no AMX${instead ? `; ${instead}` : ''}`;
}

/** Compiles a C snippet for a target (-m64/-m32/-mx32) with -fsyntax-only; returns the outcome. */
export function compileC(source: string, flag: string): { ok: boolean; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sigframe-c-'));
  const file = join(dir, 'check.c');
  writeFileSync(file, source);
  const r = spawnSync(process.env.CC ?? 'cc', [flag, '-std=c11', '-fsyntax-only', file], {
    encoding: 'utf8',
  });
  return { ok: r.status === 0, stderr: r.stderr ?? String(r.error) };
}

/** Whether the compiler can build against kernel headers for a target at all. */
export function targetSkipReason(flag: string): string | undefined {
  const r = compileC('#include <asm/sigcontext.h>\n', flag);
  if (r.ok) return undefined;
  return `cc ${flag} cannot include <asm/sigcontext.h> (install gcc-multilib): ${r.stderr.split('\n')[0]}`;
}

/** Runs the CLI from source; returns exit code and output. */
export function cli(...args: string[]): { code: number; stdout: string; stderr: string } {
  return cliWithEnv({}, ...args);
}

export function cliWithEnv(
  env: Record<string, string>,
  ...args: string[]
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export { existsSync };

/**
 * A captured 64-bit state moved to the Sapphire Rapids profile: the same registers, PKRU at the
 * kernel default, and — with `tilesInUse` — tile config loaded and tmm0–7 filled with 1..8.
 */
export function sprState(base: SignalState, amx: 'none' | 'used', tilesInUse: boolean): SignalState {
  const tmm = Array.from({ length: 8 }, (_, i) => new Uint8Array(1024).fill(i + 1));
  const cfg = {
    palette_id: 1,
    start_row: 0,
    reserved: new Uint8Array(14),
    // Palette 1: eight tiles of 16 rows × 64 bytes; the other eight must stay unconfigured.
    colsb: Array.from({ length: 16 }, (_, i) => (i < 8 ? 64 : 0)),
    rows: Array.from({ length: 16 }, (_, i) => (i < 8 ? 16 : 0)),
  };
  return {
    ...base,
    profile: 'intel-sapphire-rapids',
    amx,
    fpu: {
      ...base.fpu!,
      xstate_bv: 0xe7n | (tilesInUse ? XFEATURE_MASK.XTILE : 0n),
      components: { ...base.fpu!.components, ...(tilesInUse ? { XTILE_CFG: cfg, XTILE_DATA: { tmm } } : {}) },
      pkru: INIT_PKRU_VALUE,
    },
  };
}
