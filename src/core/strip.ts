import { dataModels } from '../../layouts/abi.js';
import { ELF, elf_ehdr, elf32_phdr, elf64_phdr } from '../../layouts/core.js';
import { encodeInto } from '../schema/encode.js';
import { sizeOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import type { ElfCore, Segment } from './elf.js';

const PAGE = 4096;

/**
 * A smaller core with the same meaning: every header and note, and the bytes of only the memory
 * segments `keep` picks; the others stay in the program headers (their addresses and flags tell
 * where code was mapped) with p_filesz 0, as the kernel writes segments it does not dump. Written
 * with the same ELF structs the reader decodes, so a stripped core reads back note for note.
 */
export function stripCore(core: ElfCore, keep: (s: Segment) => boolean): Uint8Array {
  const model = core.wordSize === 8 ? dataModels.lp64 : dataModels.ilp32;
  const phdr = core.wordSize === 8 ? elf64_phdr : elf32_phdr;
  const ehSize = sizeOf(elf_ehdr, model);
  const phSize = sizeOf(phdr, model);
  const src = core.source;
  const ehdr = decode(elf_ehdr, model, src.read(0, ehSize));
  const table = src.read(Number(ehdr.e_phoff), ehdr.e_phnum * phSize);
  const headers = core.segments.map((_, i) => decode(phdr, model, table, i * phSize));
  let at = ehSize + headers.length * phSize;
  const placed: { from: number; to: number; length: number }[] = [];
  const out = headers.map((h, i) => {
    const s = core.segments[i]!;
    const kept = s.type === ELF.PT_NOTE || (s.type === ELF.PT_LOAD && keep(s) && s.present > 0);
    if (s.type === ELF.PT_LOAD && kept) at = Math.ceil(at / PAGE) * PAGE;
    const length = kept ? s.present : 0;
    if (length > 0) placed.push({ from: s.offset, to: at, length });
    // ELF64 program headers hold 64-bit offsets, ELF32 ones 32-bit.
    const word = (v: number) => (core.wordSize === 8 ? BigInt(v) : v);
    const moved = { ...h, p_offset: word(at), p_filesz: word(length) } as typeof h;
    at += length;
    return moved;
  });
  const file = new Uint8Array(at);
  encodeInto(
    elf_ehdr,
    model,
    { ...ehdr, e_phoff: BigInt(ehSize), e_shoff: 0n, e_shnum: 0, e_shstrndx: 0, e_shentsize: 0 },
    file,
  );
  for (const [i, h] of out.entries()) encodeInto(phdr, model, h as never, file, ehSize + i * phSize);
  for (const p of placed) file.set(src.read(p.from, p.length), p.to);
  return file;
}
