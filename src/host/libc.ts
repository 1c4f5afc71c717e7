import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LibcName } from '../../layouts/libc.js';
import { type LibcExperiment, libcSchema } from '../report/experiments.js';
import { InputError } from '../schema/errors.js';
import { assertX86Linux, HostError, nativeHelper, runHelper } from './native.js';

/** The musl-gcc wrapper to build with: SIGFRAME_MUSL_GCC (e.g. a musl built from source), else musl-gcc. */
function muslGcc(): string | undefined {
  const want = process.env.SIGFRAME_MUSL_GCC ?? 'musl-gcc';
  if (want.includes('/')) return existsSync(want) ? want : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, want))) return join(dir, want);
  }
  return undefined;
}

/**
 * The version of the musl a musl-gcc wrapper links: its specs file names the library directory,
 * and musl's libc.so, run as a program, prints "Version X" (ldso/dynlink.c).
 */
function muslVersion(wrapper: string): string | undefined {
  const script = readFileSync(wrapper, 'utf8');
  const specs = /-specs\s+"?([^"\s]+)"?/.exec(script)?.[1];
  const libdir = specs && existsSync(specs) ? /-L(\S+)/.exec(readFileSync(specs, 'utf8'))?.[1] : undefined;
  const candidates = [libdir, specs ? dirname(specs) : undefined, join(dirname(wrapper), '..', 'lib')];
  for (const dir of candidates) {
    if (!dir || !existsSync(join(dir, 'libc.so'))) continue;
    const r = spawnSync(join(dir, 'libc.so'), [], { encoding: 'utf8' });
    const v = /Version (\d+\.\d+\.\d+)/.exec(`${r.stderr}${r.stdout}`)?.[1];
    if (v) return v;
  }
  return undefined;
}

/** Why the musl experiment cannot run here, or undefined when it can. */
export function muslSkipReason(): string | undefined {
  const w = muslGcc();
  if (!w) return 'no musl-gcc (apt-get install musl-tools, or set SIGFRAME_MUSL_GCC)';
  if (!muslVersion(w)) return `cannot tell which musl ${w} links (no runnable libc.so beside its specs)`;
  return undefined;
}

/** Runs native/libc.c linked with `libc`; throws HostError when it cannot be built or run. */
export function runLibcExperiment(libc: LibcName): LibcExperiment & { readonly version: string } {
  assertX86Linux('measuring the C library on the host');
  let binary: string;
  if (libc === 'glibc') {
    binary = nativeHelper('libc');
  } else {
    const w = muslGcc();
    const version = w && muslVersion(w);
    if (!w || !version) throw new HostError(muslSkipReason()!);
    // The version also keys the cached binary: a musl upgraded in place is rebuilt against.
    binary = nativeHelper('libc', ['-static', `-DMUSL_VERSION="${version}"`], w);
  }
  try {
    const exp = libcSchema.parse(JSON.parse(runHelper(binary)), 'libc');
    if (exp.libc !== libc) throw new HostError(`native/libc.c built for ${libc} reports ${exp.libc}`);
    if (exp.version === undefined)
      throw new HostError(`native/libc.c could not tell which ${libc} it runs with`);
    return { ...exp, version: exp.version };
  } catch (e) {
    if (e instanceof InputError || e instanceof SyntaxError)
      throw new HostError(`unexpected output from native/libc.c: ${e.message}`);
    throw e;
  }
}

export type { LibcExperiment };
