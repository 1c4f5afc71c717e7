import { dataModels } from '../../layouts/abi.js';
import {
  CORE_LIMITS,
  ELF,
  elf_ehdr,
  elf_nhdr,
  elf32_phdr,
  elf64_phdr,
  type NoteName,
  noteTypes,
} from '../../layouts/core.js';
import { DecodeError } from '../schema/errors.js';
import { sizeOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';

/**
 * An ELF core file read as a stream: the headers and notes are read (bounded by CORE_LIMITS and
 * checked against the file size before use), memory only in windows on request. Every
 * inconsistency that makes the file unreadable is a DecodeError naming the header, segment or
 * note and its file offset; segments whose bytes the file lacks (a truncated core) are kept and
 * reported, as gdb does, and their memory reads as absent.
 */

/** Random access to the file's bytes; the file-backed source lives in src/io/core-file.ts. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; callers check the range against `size` first. */
  read(offset: number, length: number): Uint8Array;
}

export type CoreMachine = 'x86_64' | 'i386';

export interface Segment {
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly filesz: number;
  readonly memsz: bigint;
  /** Bytes of the segment the file really holds (less than filesz when truncated). */
  readonly present: number;
}

export interface Note {
  readonly index: number;
  readonly owner: string;
  readonly type: number;
  readonly name: NoteName | undefined;
  /** File offset of the descriptor. */
  readonly offset: number;
  readonly desc: Uint8Array;
}

export interface ElfCore {
  readonly machine: CoreMachine;
  readonly wordSize: 4 | 8;
  readonly segments: readonly Segment[];
  readonly notes: readonly Note[];
  /** Findings that leave the core readable (truncated memory). */
  readonly warnings: readonly string[];
  readonly source: ByteSource;
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

function bytesAt(src: ByteSource, offset: number, length: number, what: string): Uint8Array {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw new DecodeError(
      `${what}: bytes ${hex(offset)}..${hex(offset + length)} lie past the end of the file (${src.size} bytes)`,
      { offset: Math.min(Math.max(offset, 0), src.size) },
    );
  }
  return src.read(offset, length);
}

/** Whether the bytes start like an ELF file (what `decode` checks to point at `sigframe core`). */
export function isElf(bytes: Uint8Array): boolean {
  return ELF.MAGIC.every((b, i) => bytes[i] === b);
}

export function readElfCore(src: ByteSource): ElfCore {
  const ident = bytesAt(src, 0, Math.min(16, src.size), 'ELF identification');
  if (ident.length < 16 || !isElf(ident)) {
    const seen = [...ident.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new DecodeError(
      `not an ELF file: bytes 0..3 are ${seen || 'missing'}, an ELF core starts 7f 45 4c 46`,
      { offset: 0 },
    );
  }
  const cls = ident[4];
  if (cls !== ELF.CLASS32 && cls !== ELF.CLASS64)
    throw new DecodeError(`e_ident[EI_CLASS] is ${cls}: expected 1 (ELF32) or 2 (ELF64)`, { offset: 4 });
  if (ident[5] !== ELF.DATA2LSB)
    throw new DecodeError(`e_ident[EI_DATA] is ${ident[5]}: x86 cores are little-endian (1)`, { offset: 5 });
  const model = cls === ELF.CLASS64 ? dataModels.lp64 : dataModels.ilp32;
  const ehdr = decode(elf_ehdr, model, bytesAt(src, 0, sizeOf(elf_ehdr, model), 'ELF header'));
  if (ehdr.e_type !== ELF.ET_CORE) {
    throw new DecodeError(`e_type is ${ehdr.e_type}: not a core file (ET_CORE = 4)`, { offset: 16 });
  }
  const machine: CoreMachine | undefined =
    cls === ELF.CLASS64 && ehdr.e_machine === ELF.EM_X86_64
      ? 'x86_64'
      : cls === ELF.CLASS32 && ehdr.e_machine === ELF.EM_386
        ? 'i386'
        : undefined;
  if (!machine) {
    const what =
      cls === ELF.CLASS32 && ehdr.e_machine === ELF.EM_X86_64 ? 'an x32 core (not supported)' : 'not x86';
    throw new DecodeError(`e_machine is ${ehdr.e_machine} in an ELF${cls === 1 ? 32 : 64} file: ${what}`, {
      offset: 18,
    });
  }
  const phdr = cls === ELF.CLASS64 ? elf64_phdr : elf32_phdr;
  const phentsize = sizeOf(phdr, model);
  if (ehdr.e_phentsize !== phentsize) {
    throw new DecodeError(`e_phentsize is ${ehdr.e_phentsize}: expected ${phentsize}`, {
      offset: cls === ELF.CLASS64 ? 54 : 42,
    });
  }
  const phoff = Number(ehdr.e_phoff);
  const phnum = ehdr.e_phnum;
  if (phnum === 0xffff) {
    throw new DecodeError('e_phnum is PN_XNUM (more than 65534 segments): not supported', {
      offset: cls === ELF.CLASS64 ? 56 : 44,
    });
  }
  const table = bytesAt(src, phoff, phnum * phentsize, `program headers (${phnum} at ${hex(phoff)})`);
  const segments: Segment[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = decode(phdr, model, table, i * phentsize);
    const offset = Number(p.p_offset);
    const filesz = Number(p.p_filesz);
    if (!Number.isSafeInteger(offset + filesz)) {
      throw new DecodeError(
        `program header ${i}: p_offset ${hex(p.p_offset)} + p_filesz is not a file range`,
        {
          offset: phoff + i * phentsize,
        },
      );
    }
    const present = Math.max(0, Math.min(filesz, src.size - offset));
    if (present < filesz) {
      const what = `PT_${p.p_type === ELF.PT_NOTE ? 'NOTE' : p.p_type === ELF.PT_LOAD ? 'LOAD' : p.p_type} segment ${i} (file ${hex(offset)}, ${filesz} bytes)`;
      if (p.p_type === ELF.PT_NOTE)
        throw new DecodeError(`${what} runs past the end of the file (${src.size} bytes)`, { offset });
      warnings.push(
        `${what}: the file holds ${present} of its bytes (a truncated core); the rest reads as absent`,
      );
    }
    segments.push({
      index: i,
      type: p.p_type,
      flags: p.p_flags,
      offset,
      vaddr: BigInt(p.p_vaddr),
      filesz,
      memsz: BigInt(p.p_memsz),
      present,
    });
  }
  checkOverlaps(segments);
  return { machine, wordSize: model.long, segments, notes: readNotes(src, segments), warnings, source: src };
}

/** Two segments claiming the same file bytes, or two loads the same addresses, make a core ambiguous. */
function checkOverlaps(segments: readonly Segment[]): void {
  const files = segments.filter((s) => s.filesz > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < files.length; i++) {
    const a = files[i - 1]!;
    const b = files[i]!;
    if (b.offset < a.offset + a.filesz) {
      throw new DecodeError(
        `segments ${a.index} and ${b.index} overlap in the file: ${hex(a.offset)}+${a.filesz} and ${hex(b.offset)}`,
        { offset: b.offset },
      );
    }
  }
  const loads = segments
    .filter((s) => s.type === ELF.PT_LOAD && s.memsz > 0n)
    .sort((a, b) => (a.vaddr < b.vaddr ? -1 : 1));
  for (let i = 1; i < loads.length; i++) {
    const a = loads[i - 1]!;
    const b = loads[i]!;
    if (b.vaddr < a.vaddr + a.memsz) {
      throw new DecodeError(
        `PT_LOAD segments ${a.index} and ${b.index} overlap in memory: ${hex(a.vaddr)}+${hex(a.memsz)} and ${hex(b.vaddr)}`,
        { offset: b.offset },
      );
    }
  }
}

const align4 = (n: number) => (n + 3) & ~3;

function readNotes(src: ByteSource, segments: readonly Segment[]): Note[] {
  const noteSegs = segments.filter((s) => s.type === ELF.PT_NOTE);
  const total = noteSegs.reduce((n, s) => n + s.filesz, 0);
  if (total > CORE_LIMITS.notes) {
    throw new DecodeError(
      `PT_NOTE segments hold ${total} bytes, more than sigframe reads (${CORE_LIMITS.notes}): not a core's notes`,
      { offset: noteSegs[0]!.offset },
    );
  }
  const notes: Note[] = [];
  const nhdrSize = sizeOf(elf_nhdr, dataModels.lp64);
  for (const s of noteSegs) {
    const bytes = bytesAt(src, s.offset, s.filesz, `PT_NOTE segment ${s.index}`);
    let at = 0;
    while (at < bytes.length) {
      const where = s.offset + at;
      if (bytes.length - at < nhdrSize) {
        throw new DecodeError(
          `note ${notes.length} at file offset ${hex(where)}: ${bytes.length - at} bytes left in PT_NOTE segment ${s.index}, a note header needs ${nhdrSize}`,
          { offset: where },
        );
      }
      const h = decode(elf_nhdr, dataModels.lp64, bytes, at);
      const nameAt = at + nhdrSize;
      const descAt = nameAt + align4(h.n_namesz);
      const end = descAt + align4(h.n_descsz);
      if (descAt + h.n_descsz > bytes.length) {
        throw new DecodeError(
          `note ${notes.length} (type ${hex(h.n_type)}) at file offset ${hex(where)}: name ${h.n_namesz} + descriptor ${h.n_descsz} bytes run past the end of PT_NOTE segment ${s.index} (${hex(s.offset + bytes.length)})`,
          { offset: where },
        );
      }
      const owner = Buffer.from(bytes.subarray(nameAt, nameAt + h.n_namesz))
        .toString('latin1')
        .replace(/\0+$/, '');
      const known = noteTypes.find((n) => n.type === h.n_type && n.owner === owner);
      notes.push({
        index: notes.length,
        owner,
        type: h.n_type,
        name: known?.name,
        offset: s.offset + descAt,
        desc: bytes.subarray(descAt, descAt + h.n_descsz),
      });
      at = Math.min(end, bytes.length);
    }
  }
  return notes;
}

/**
 * The core's memory at `address`: the bytes of the PT_LOAD segment holding it, from `address` up to
 * `length` bytes or the segment's end, whichever comes first (undefined when the file lacks them).
 */
export function memoryAt(
  core: ElfCore,
  address: bigint,
  length: number,
): { address: bigint; bytes: Uint8Array } | undefined {
  const s = loadAt(core, address);
  if (!s) return undefined;
  const into = Number(address - s.vaddr);
  if (into >= s.present) return undefined;
  const n = Math.min(length, s.present - into);
  return { address, bytes: core.source.read(s.offset + into, n) };
}

/** The PT_LOAD segment whose memory range holds `address`. */
export function loadAt(core: ElfCore, address: bigint): Segment | undefined {
  return core.segments.find(
    (s) => s.type === ELF.PT_LOAD && address >= s.vaddr && address < s.vaddr + s.memsz,
  );
}
