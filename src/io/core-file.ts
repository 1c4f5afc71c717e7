import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type ByteSource, type ElfCore, readElfCore } from '../core/elf.js';
import { type CoreOptions, type CoreReport, coreReport } from '../core/report.js';
import { InputError } from '../schema/errors.js';
import { resolveFrame, shippedProfileChoices } from './frames.js';

/**
 * A core file read in place: positioned reads, never the whole file, so a multi-gigabyte core or a
 * 100 MB junk file costs only the bytes the reader asks for.
 */
function fileSource(path: string): { source: ByteSource; close: () => void } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot open (${code})`}`, {
      path,
    });
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw new InputError(`${path}: not a regular file`, { path });
  }
  const source: ByteSource = {
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
  };
  return { source, close: () => closeSync(fd) };
}

/** An ELF core file opened for reading; `close` when done. */
export function openCore(path: string): { core: ElfCore; close: () => void } {
  const { source, close } = fileSource(path);
  try {
    return { core: readElfCore(source), close };
  } catch (e) {
    close();
    throw e;
  }
}

/** `sigframe core`: the report of a core file, with the shipped profiles as inference candidates. */
export function readCoreFile(path: string, o: Omit<CoreOptions, 'candidates' | 'decodeFrame'>): CoreReport {
  const { core, close } = openCore(path);
  try {
    // Real CPUs before synthetic ones: an inferred layout should name a machine that exists.
    const shipped = shippedProfileChoices();
    const candidates = [
      ...shipped.filter((c) => !c.profile.file.synthetic),
      ...shipped.filter((c) => c.profile.file.synthetic),
    ];
    return coreReport(core, {
      ...o,
      candidates,
      decodeFrame: (memory, kind, named) =>
        resolveFrame(memory, {
          named: { ...named, source: 'core' },
          kind,
          defaultKind: kind,
          kernel: o.kernel,
          config: o.config,
          locate: { frame: memory.address },
        }),
    });
  } finally {
    close();
  }
}
