import { dataModels } from '../../layouts/abi.js';
import {
  auxvNames,
  elf_prpsinfo_32,
  elf_prpsinfo_64,
  elf_prstatus_32,
  elf_prstatus_64,
  gregNames,
  NT,
  noteTypes,
  x86_xfeat_component,
} from '../../layouts/core.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import type { LayoutComponent } from '../profile/synthetic.js';
import { DecodeError } from '../schema/errors.js';
import { sizeOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import type { ElfCore, Note } from './elf.js';

/**
 * A core's notes, grouped as the kernel (fs/binfmt_elf.c write_note_info) and gdb write them:
 * each thread starts with its NT_PRSTATUS, and the thread notes that follow belong to it; the
 * process notes (NT_PRPSINFO, NT_AUXV, NT_FILE, NT_X86_XSAVE_LAYOUT) stand once for all.
 */
export interface ThreadNotes {
  readonly tid: number;
  /** The signal the thread was stopped by (pr_cursig). */
  readonly cursig: number;
  /** The GPRs under sigcontext member names (ip, sp, flags, ax, r8…), plus ptrace-only ones. */
  readonly registers: Readonly<Record<string, bigint>>;
  /** x86_64: NT_FPREGSET; i386: NT_PRXFPREG — the 512-byte FXSAVE image. */
  readonly fxsave: Note | undefined;
  readonly xstate: Note | undefined;
  readonly siginfo: Note | undefined;
}

export interface ProcessNotes {
  readonly pid?: number;
  readonly fname?: string;
  readonly psargs?: string;
  readonly auxv: ReadonlyMap<number, bigint>;
  /** NT_X86_XSAVE_LAYOUT, when the kernel wrote one (Linux 6.12+). */
  readonly xsaveLayout: readonly LayoutComponent[] | undefined;
  /** NT_FILE: the file mappings, also those whose memory the core leaves out (gcore omits them). */
  readonly files: readonly MappedFile[];
}

export interface MappedFile {
  readonly start: bigint;
  readonly end: bigint;
  readonly name: string;
}

/**
 * NT_FILE (fs/binfmt_elf.c fill_files_note): count and page size, then {start, end, file_ofs}
 * per mapping, then the NUL-terminated names in the same order.
 */
function parseFileNote(n: Note, word: 4 | 8): MappedFile[] {
  const view = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
  const get = (off: number) =>
    word === 8 ? view.getBigUint64(off, true) : BigInt(view.getUint32(off, true));
  need(n, 2 * word, 'NT_FILE');
  const count = Number(get(0));
  const namesAt = 2 * word + count * 3 * word;
  if (namesAt > n.desc.length) {
    throw new DecodeError(
      `NT_FILE at file offset 0x${n.offset.toString(16)}: ${count} mappings need ${namesAt} bytes, the note has ${n.desc.length}`,
      { offset: n.offset },
    );
  }
  const names = Buffer.from(n.desc.subarray(namesAt)).toString('utf8').split('\0');
  return Array.from({ length: count }, (_, i) => ({
    start: get(2 * word + i * 3 * word),
    end: get(2 * word + i * 3 * word + word),
    name: names[i] ?? '',
  }));
}

const cstr = (b: Uint8Array) => {
  const end = b.indexOf(0);
  return Buffer.from(end < 0 ? b : b.subarray(0, end)).toString('utf8');
};

function need(n: Note, size: number, what: string): void {
  if (n.desc.length < size) {
    throw new DecodeError(
      `note ${n.index} (${n.name ?? `type 0x${n.type.toString(16)}`}) at file offset 0x${n.offset.toString(16)}: ${n.desc.length} bytes, ${what} needs ${size}`,
      { offset: n.offset },
    );
  }
}

/** An aux vector of `word`-byte pairs, ended by AT_NULL or the note's end. */
export function parseAuxvWords(bytes: Uint8Array, word: 4 | 8): Map<number, bigint> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const get = (off: number) =>
    word === 8 ? view.getBigUint64(off, true) : BigInt(view.getUint32(off, true));
  const out = new Map<number, bigint>();
  for (let off = 0; off + 2 * word <= bytes.length; off += 2 * word) {
    const type = get(off);
    if (type === 0n) break;
    if (type <= BigInt(Number.MAX_SAFE_INTEGER)) out.set(Number(type), get(off + word));
  }
  return out;
}

/** The aux vector with names where the table has them (AT_MINSIGSTKSZ, AT_HWCAP2, …). */
export function namedAuxv(auxv: ReadonlyMap<number, bigint>): Record<string, bigint> {
  return Object.fromEntries([...auxv].map(([t, v]) => [auxvNames[t] ?? `AT_${t}`, v]));
}

export function groupNotes(core: ElfCore): { process: ProcessNotes; threads: ThreadNotes[] } {
  const model = core.wordSize === 8 ? dataModels.lp64 : dataModels.ilp32;
  const prstatus = core.wordSize === 8 ? elf_prstatus_64 : elf_prstatus_32;
  const prpsinfo = core.wordSize === 8 ? elf_prpsinfo_64 : elf_prpsinfo_32;
  const threads: {
    tid: number;
    cursig: number;
    registers: Record<string, bigint>;
    fxsave?: Note;
    xstate?: Note;
    siginfo?: Note;
  }[] = [];
  let pid: number | undefined;
  let fname: string | undefined;
  let psargs: string | undefined;
  let auxv = new Map<number, bigint>();
  let xsaveLayout: LayoutComponent[] | undefined;
  let files: MappedFile[] = [];
  const processSiginfo: Note[] = [];
  for (const n of core.notes) {
    const current = threads[threads.length - 1];
    const scope = noteTypes.find((t) => t.type === n.type && t.owner === n.owner)?.scope;
    if (scope === 'thread' && n.type !== NT.NT_PRSTATUS && !current) {
      if (n.type === NT.NT_SIGINFO) processSiginfo.push(n);
      continue;
    }
    switch (n.name) {
      case 'NT_PRSTATUS': {
        need(n, sizeOf(prstatus, model), 'struct elf_prstatus');
        const p = decode(prstatus, model, n.desc);
        const registers: Record<string, bigint> = {};
        for (const [k, v] of Object.entries(p.pr_reg)) registers[gregNames[k] ?? k] = BigInt(v);
        threads.push({ tid: p.pr_pid, cursig: p.pr_cursig, registers });
        break;
      }
      case 'NT_FPREGSET':
        // i386's is the FSAVE image; NT_PRXFPREG and NT_X86_XSTATE hold the same registers in full.
        if (core.wordSize === 8) {
          need(n, sizeOf(fpstate_64, dataModels.lp64), 'the FXSAVE image');
          current!.fxsave = n;
        }
        break;
      case 'NT_PRXFPREG':
        need(n, sizeOf(fpstate_64, dataModels.lp64), 'the FXSAVE image');
        current!.fxsave = n;
        break;
      case 'NT_X86_XSTATE':
        current!.xstate = n;
        break;
      case 'NT_SIGINFO':
        need(n, 128, 'siginfo_t');
        current!.siginfo ??= n;
        break;
      case 'NT_PRPSINFO': {
        need(n, sizeOf(prpsinfo, model), 'struct elf_prpsinfo');
        const p = decode(prpsinfo, model, n.desc);
        pid = p.pr_pid;
        fname = cstr(p.pr_fname);
        psargs = cstr(p.pr_psargs).trimEnd();
        break;
      }
      case 'NT_AUXV':
        auxv = parseAuxvWords(n.desc, core.wordSize);
        break;
      case 'NT_FILE':
        files = parseFileNote(n, core.wordSize);
        break;
      case 'NT_X86_XSAVE_LAYOUT': {
        const entry = sizeOf(x86_xfeat_component, dataModels.lp64);
        if (n.desc.length % entry !== 0) {
          throw new DecodeError(
            `NT_X86_XSAVE_LAYOUT at file offset 0x${n.offset.toString(16)}: ${n.desc.length} bytes is not a whole number of ${entry}-byte entries`,
            { offset: n.offset },
          );
        }
        xsaveLayout = [];
        for (let at = 0; at < n.desc.length; at += entry) {
          const c = decode(x86_xfeat_component, dataModels.lp64, n.desc, at);
          xsaveLayout.push({ nr: c.type, size: c.size, offset: c.offset, flags: c.flags });
        }
        break;
      }
      default:
        break;
    }
  }
  if (processSiginfo.length > 0 && threads[0] && !threads[0].siginfo) threads[0].siginfo = processSiginfo[0];
  return {
    process: {
      ...(pid !== undefined ? { pid } : {}),
      ...(fname !== undefined ? { fname } : {}),
      ...(psargs !== undefined ? { psargs } : {}),
      auxv,
      xsaveLayout,
      files,
    },
    threads: threads.map((t) => ({
      tid: t.tid,
      cursig: t.cursig,
      registers: t.registers,
      fxsave: t.fxsave,
      xstate: t.xstate,
      siginfo: t.siginfo,
    })),
  };
}
