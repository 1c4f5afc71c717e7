import type { AbiName } from '../../layouts/abi.js';
import { rt_sigframe, sigframe_ia32 } from '../../layouts/frames.js';
import {
  type LibcName,
  type LibcRelease,
  libcReleases,
  type MinsigstkszRule,
  type SigaltstackCheck,
  type SigstkszRule,
} from '../../layouts/libc.js';
import { K } from '../abi/constants.js';
import { structModel } from '../abi/index.js';
import { FREGS_STATE_SIZE } from '../kernel/fpu_signal.js';
import { FRAME_ALIGNMENT, MAX_FRAME_PADDING } from '../kernel/signal.js';
import type { KernelXfeatures } from '../kernel/xstate.js';
import { InputError } from '../schema/errors.js';
import { roundUp, sizeOf } from '../schema/layout.js';

/**
 * What one C library release answers about signal stacks on a given kernel and CPU: one row of
 * `sigframe size`'s `libc` table. null where sysconf has no such name.
 */
export interface LibcRow {
  readonly libc: LibcName;
  /** The releases this row holds for, e.g. `1.2.4–1.2.5`, `≤ 2.33`, `≥ 2.34`. */
  readonly versions: string;
  readonly sc_minsigstksz: number | null;
  readonly sc_sigstksz: number | null;
  /** The smallest ss_size a sigaltstack() call through this library succeeds with. */
  readonly sigaltstack_min: number;
  readonly basis: string;
  readonly cite: string;
}

/** The inputs every rule reads: the kernel's aux vector entry, the CPU, the frame's ABI. */
interface LibcInputs {
  readonly atMinsigstksz: number | undefined;
  readonly k: KernelXfeatures;
  readonly abi: AbiName;
}

/**
 * glibc 2.34+ (sysdeps/unix/sysv/linux/x86/dl-minsigstacksize.h, elf/dl-parse_auxv.h): the
 * kernel's AT_MINSIGSTKSZ, unclamped. Without one (kernels before 5.14) glibc estimates the
 * frame from CPUID.(0xD,0).EBX — the standard size of the XCR0 the kernel set, i.e. max_size —
 * with its own copy of the kernel's struct sizes (440 for rt_sigframe plus a return address; for
 * i386, 736 + 112 + 4 + 3 arguments); without OSXSAVE it answers MINSIGSTKSZ. x32 builds take
 * the __x86_64__ branch.
 */
function glibcMinsigstksz({ atMinsigstksz, k, abi }: LibcInputs): { value: number; basis: string } {
  if (atMinsigstksz !== undefined)
    return { value: atMinsigstksz, basis: 'AT_MINSIGSTKSZ, as the kernel gives it' };
  if (!k.xsave) return { value: K.MINSIGSTKSZ, basis: 'no AT_MINSIGSTKSZ and no XSAVE: MINSIGSTKSZ' };
  const frame =
    abi === 'ia32'
      ? sizeOf(sigframe_ia32, structModel(sigframe_ia32, 'ia32')) + FREGS_STATE_SIZE + 4 + 3 * 4
      : sizeOf(rt_sigframe, structModel(rt_sigframe, 'x86_64')) + 8;
  // Pad to 16, then up to 48 more to reach the XSAVE image's 64-byte alignment, then MAGIC2.
  const value =
    roundUp(frame + MAX_FRAME_PADDING, FRAME_ALIGNMENT) + (64 - 16) + k.maxSize + K.FP_XSTATE_MAGIC2_SIZE;
  return { value, basis: `no AT_MINSIGSTKSZ: glibc's estimate from CPUID.(0xD,0).EBX = ${k.maxSize}` };
}

/** getauxval() answers 0 for an entry the kernel did not give (musl src/misc/getauxval.c). */
const auxOrZero = (i: LibcInputs) => i.atMinsigstksz ?? 0;

const MUSL_HANDLER_SPACE = 1024;

const minsigstkszRules: Record<
  Exclude<MinsigstkszRule, 'absent'>,
  (i: LibcInputs) => { value: number; basis: string }
> = {
  'glibc-auxv-or-cpuid': glibcMinsigstksz,
  // musl 1.2.4–1.2.5 src/conf/sysconf.c: the aux vector value, raised to MINSIGSTKSZ.
  'musl-auxv-at-least-minsigstksz': (i) => ({
    value: Math.max(auxOrZero(i), K.MINSIGSTKSZ),
    basis: `max(AT_MINSIGSTKSZ ${i.atMinsigstksz ?? 'absent (0)'}, MINSIGSTKSZ ${K.MINSIGSTKSZ})`,
  }),
  // musl 1.2.6 src/conf/sysconf.c: the aux vector value is the bare frame; 1 KiB of handler room on top.
  'musl-frame-plus-1k': (i) => ({
    value: Math.max(auxOrZero(i), K.MINSIGSTKSZ - MUSL_HANDLER_SPACE) + MUSL_HANDLER_SPACE,
    basis: `max(AT_MINSIGSTKSZ ${i.atMinsigstksz ?? 'absent (0)'}, ${K.MINSIGSTKSZ - MUSL_HANDLER_SPACE}) + ${MUSL_HANDLER_SPACE}`,
  }),
};

const sigstkszRules: Record<Exclude<SigstkszRule, 'absent'>, (min: number) => number> = {
  // glibc sysdeps/unix/sysv/linux/sysconf-sigstksz.h.
  'glibc-4x-min': (min) => Math.max(4 * Math.max(min, K.MINSIGSTKSZ), K.SIGSTKSZ),
  // musl src/conf/sysconf.c (1.2.4+): as much above the minimum as SIGSTKSZ is above MINSIGSTKSZ.
  'musl-min-plus-6k': (min) => min + K.SIGSTKSZ - K.MINSIGSTKSZ,
};

/** The least ss_size the library's own check lets through to the kernel (src/signal/sigaltstack.c). */
const sigaltstackChecks: Record<SigaltstackCheck, (scMin: number | null) => number> = {
  none: () => 0,
  'below-MINSIGSTKSZ': () => K.MINSIGSTKSZ,
  'below-sc-minsigstksz': (scMin) => scMin ?? K.MINSIGSTKSZ,
};

function versionParts(v: string): number[] {
  return v.split('.').map(Number);
}

export function compareLibcVersions(a: string, b: string): number {
  const x = versionParts(a);
  const y = versionParts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The release just before `v` in the library's numbering: 2.34 → 2.33, 1.2.4 → 1.2.3. */
function previousRelease(v: string): string {
  const p = versionParts(v);
  p[p.length - 1]! -= 1;
  return p.join('.');
}

function releasesOf(libc: LibcName): readonly LibcRelease[] {
  return libcReleases.filter((r) => r.libc === libc);
}

/** `≤ 2.33`, `1.2.4–1.2.5`, `≥ 2.34`: the versions a release row holds for. */
export function releaseRange(row: LibcRelease): string {
  const rows = releasesOf(row.libc);
  const i = rows.indexOf(row);
  const next = rows[i + 1];
  if (i === 0 && next) return `≤ ${previousRelease(next.since)}`;
  if (!next) return `≥ ${row.since}`;
  const last = previousRelease(next.since);
  return last === row.since ? row.since : `${row.since}–${last}`;
}

/** The row a library version falls in: the newest whose `since` it reaches. */
export function libcRelease(libc: LibcName, version: string): LibcRelease {
  let found: LibcRelease | undefined;
  for (const r of releasesOf(libc)) if (compareLibcVersions(version, r.since) >= 0) found = r;
  return found ?? releasesOf(libc)[0]!;
}

/** The newest release row of a library: what a program built today against it gets. */
export function newestLibcRelease(libc: LibcName): LibcRelease {
  const rows = releasesOf(libc);
  return rows[rows.length - 1]!;
}

export interface LibcChoice {
  readonly libc: LibcName;
  /** The version asked for; undefined means the newest release row. */
  readonly version: string | undefined;
  readonly release: LibcRelease;
}

/** `--libc glibc-2.36`, `musl-1.2.3`, or a bare `glibc` / `musl` for the newest behaviour. */
export function parseLibcChoice(text: string): LibcChoice {
  const m = /^(glibc|musl)(?:-(\d+(?:\.\d+){1,2}))?$/.exec(text.trim());
  if (!m) {
    throw new InputError(
      `--libc ${text}: expected glibc-VERSION or musl-VERSION, e.g. glibc-2.36 or musl-1.2.3`,
      {
        path: 'libc',
      },
    );
  }
  const libc = m[1] as LibcName;
  const version = m[2];
  return { libc, version, release: version ? libcRelease(libc, version) : newestLibcRelease(libc) };
}

export function libcChoiceLabel(c: LibcChoice): string {
  return c.version ? `${c.libc} ${c.version}` : `${c.libc} ${releaseRange(c.release)}`;
}

/**
 * One row's answers. `kernelSigaltstackMin` is what the kernel's sigaltstack() accepts for the
 * thread in question; a library check below it changes nothing.
 */
export function libcRow(
  release: LibcRelease,
  atMinsigstksz: number | undefined,
  k: KernelXfeatures,
  abi: AbiName,
  kernelSigaltstackMin: number,
): LibcRow {
  const inputs = { atMinsigstksz, k, abi };
  const min = release.minsigstksz === 'absent' ? undefined : minsigstkszRules[release.minsigstksz](inputs);
  const sig = release.sigstksz === 'absent' || !min ? null : sigstkszRules[release.sigstksz](min.value);
  const scMin = min?.value ?? null;
  const own = sigaltstackChecks[release.sigaltstack](scMin);
  return {
    libc: release.libc,
    versions: releaseRange(release),
    sc_minsigstksz: scMin,
    sc_sigstksz: sig,
    sigaltstack_min: Math.max(own, kernelSigaltstackMin),
    basis: [
      min
        ? `_SC_MINSIGSTKSZ = ${min.basis}`
        : 'no _SC_MINSIGSTKSZ or _SC_SIGSTKSZ (sysconf fails with EINVAL)',
      own > 0
        ? `sigaltstack() refuses sizes under ${own} itself (ENOMEM)${own < kernelSigaltstackMin ? `, the kernel under ${kernelSigaltstackMin}` : ''}`
        : `sigaltstack() leaves the size to the kernel (${kernelSigaltstackMin})`,
    ].join('; '),
    cite: release.cite,
  };
}

/** Every release row of every library, in table order. */
export function libcRows(
  atMinsigstksz: number | undefined,
  k: KernelXfeatures,
  abi: AbiName,
  kernelSigaltstackMin: number,
): LibcRow[] {
  return libcReleases.map((r) => libcRow(r, atMinsigstksz, k, abi, kernelSigaltstackMin));
}
