import { type ByteSource, type ElfCore, readElfCore } from '../core/elf.js';
import { type CoreOptions, type CoreReport, coreReport } from '../core/report.js';
import { openInput } from './files.js';
import { resolveFrame, shippedProfileChoices } from './frames.js';

/**
 * A core file read in place: positioned reads, never the whole file, so a multi-gigabyte core or a
 * 100 MB junk file costs only the bytes the reader asks for.
 */
function fileSource(path: string): { source: ByteSource; close: () => void } {
  const f = openInput(path, 'an ELF core file');
  return { source: { size: f.size, read: f.read }, close: f.close };
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
