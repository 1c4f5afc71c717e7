import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { nativeDir } from '../../layouts/paths.js';
import { SigframeError } from '../schema/errors.js';

/** The host cannot do what was asked (no compiler, not x86 Linux, helper failed). */
export class HostError extends SigframeError {}

export function assertX86Linux(what: string): void {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new HostError(
      `${what} needs an x86-64 Linux host (this is ${process.platform}/${process.arch}); use --profile or --input instead`,
    );
  }
}

function cacheDir(): string {
  const base =
    process.env.SIGFRAME_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sigframe');
  mkdirSync(base, { recursive: true });
  return base;
}

function compilerCandidates(): string[] {
  return [process.env.CC, 'cc', 'gcc', 'clang'].filter((c): c is string => !!c);
}

/**
 * Compiles native/<name>.c with the system C compiler (or `compiler`, e.g. musl-gcc) on first
 * use and caches the binary under ~/.cache/sigframe, keyed by a hash of the source, flags and
 * compiler, so an edited helper is rebuilt.
 */
export function nativeHelper(name: string, flags: readonly string[] = [], compiler?: string): string {
  const source = join(nativeDir, `${name}.c`);
  const text = readFileSync(source);
  // The helpers' own headers (#include "…") are part of what is built: an edit rebuilds.
  const headers = [...text.toString('utf8').matchAll(/^#include "([^"]+)"/gm)].map((m) =>
    readFileSync(join(nativeDir, m[1]!)),
  );
  const key = createHash('sha256')
    .update(text)
    .update(Buffer.concat(headers))
    .update(flags.join(' '))
    .update(compiler ?? '')
    .digest('hex')
    .slice(0, 16);
  const binary = join(cacheDir(), `${name}-${key}`);
  if (existsSync(binary)) return binary;
  const tried: string[] = [];
  for (const cc of compiler ? [compiler] : compilerCandidates()) {
    const tmp = `${binary}.${process.pid}.tmp`;
    const r = spawnSync(cc, ['-O2', '-Wall', ...flags, '-o', tmp, source], { encoding: 'utf8' });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      tried.push(cc);
      continue;
    }
    if (r.status !== 0) {
      throw new HostError(
        `compiling ${name}.c with ${cc} ${flags.join(' ')} failed:\n${(r.stderr || '').trim()}`,
      );
    }
    renameSync(tmp, binary);
    return binary;
  }
  throw new HostError(
    `no C compiler found (tried ${tried.join(', ')}): sigframe compiles a small helper (native/${name}.c) to read CPUID, XGETBV and the aux vector on this host. Install one (e.g. apt-get install gcc) or set CC, or use --profile/--input instead of the host`,
  );
}

export function runHelper(binary: string, args: readonly string[] = []): string {
  const r = spawnSync(binary, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new HostError(`running ${binary}: ${r.error.message}`);
  if (r.status !== 0)
    throw new HostError(`${binary} exited with ${r.status ?? r.signal}: ${(r.stderr || '').trim()}`);
  return r.stdout;
}
