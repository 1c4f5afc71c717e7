import { closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InputError } from '../schema/errors.js';

/**
 * Every file a command reads whole or writes goes through here, so each user mistake — a missing
 * file, a directory, something too large to be what it claims, an output nobody can write — is one
 * InputError (exit 2) naming the path, and nothing loops or reads without bound.
 */

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? 'error';

const reason: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EEXIST: 'already exists',
};
const say = (e: unknown) => reason[errno(e)] ?? errno(e);

/** A whole input file, at most `limit` bytes: `what` says what it should be, for the messages. */
export function readInput(path: string, what: string, limit: number): Buffer {
  if (path === '') throw new InputError(`no file given for ${what}`, { path: what });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(`${path}: ${say(e)} (expected ${what})`, { path });
  }
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new InputError(`${path}: a directory, expected ${what}`, { path });
    if (!st.isFile()) throw new InputError(`${path}: not a regular file, expected ${what}`, { path });
    if (st.size > limit) {
      throw new InputError(`${path}: ${st.size} bytes, more than ${what} can be (limit ${limit})`, { path });
    }
    const out = Buffer.alloc(st.size);
    let done = 0;
    while (done < st.size) {
      const n = readSync(fd, out, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** An output file: its folder must exist, and the path must not be a folder. */
export function writeOutput(path: string, data: string | Uint8Array, what: string): void {
  if (path === '') throw new InputError(`no output path given for ${what}`, { path: what });
  try {
    if (statSync(path).isDirectory())
      throw new InputError(`${path}: a directory; ${what} is written to a file`, { path });
  } catch (e) {
    if (e instanceof InputError) throw e;
  }
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new InputError(`${path}: cannot write ${what} (${say(e)})`, { path });
  }
}

/**
 * An output folder, created with its missing parents one level at a time (Node's recursive mkdir
 * spins on procfs and sysfs, where every level "exists" and none can be made).
 */
export function makeOutputDir(dir: string, what: string): void {
  if (dir === '') throw new InputError(`no output folder given for ${what}`, { path: what });
  const full = resolve(dir);
  const missing: string[] = [];
  for (let p = full; ; p = dirname(p)) {
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(p);
    } catch (e) {
      if (errno(e) !== 'ENOENT')
        throw new InputError(`${dir}: cannot create ${what} (${p}: ${say(e)})`, { path: dir });
    }
    if (st) {
      if (!st.isDirectory()) {
        throw new InputError(`${dir}: cannot create ${what}: ${p} exists and is not a directory`, {
          path: dir,
        });
      }
      break;
    }
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      if (errno(e) === 'EEXIST') continue;
      throw new InputError(`${dir}: cannot create ${what} (${p}: ${say(e)})`, { path: dir });
    }
  }
}
