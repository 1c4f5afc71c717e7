import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
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

/** An input file opened for positioned reads: a regular file, or an InputError naming the path. */
export interface OpenInput {
  readonly fd: number;
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer only where the file ends). */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function openInput(path: string, what: string): OpenInput {
  if (path === '') throw new InputError(`no file given for ${what}`, { path: what });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new InputError(`${path}: ${say(e)} (expected ${what})`, { path });
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    const kind = st.isDirectory() ? 'a directory' : 'not a regular file';
    throw new InputError(`${path}: ${kind}, expected ${what}`, { path });
  }
  return {
    fd,
    size: st.size,
    read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return done === length ? out : out.subarray(0, done);
    },
    close: () => closeSync(fd),
  };
}

/** A whole input file, at most `limit` bytes: `what` says what it should be, for the messages. */
export function readInput(path: string, what: string, limit: number): Buffer {
  const f = openInput(path, what);
  try {
    if (f.size > limit) {
      throw new InputError(`${path}: ${f.size} bytes, more than ${what} can be (limit ${limit})`, { path });
    }
    const b = f.read(0, f.size);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  } finally {
    f.close();
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
