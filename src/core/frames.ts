import { CORE_LIMITS, ELF } from '../../layouts/core.js';
import { type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { K } from '../abi/constants.js';
import type { DecodedFrame } from '../frame/decode.js';
import { frameLayout } from '../frame/layout.js';
import type { FrameTarget } from '../frame/target.js';
import { SigframeError } from '../schema/errors.js';
import { offsetOf } from '../schema/layout.js';
import { type ElfCore, loadAt, memoryAt } from './elf.js';
import type { MappedFile } from './notes.js';

/**
 * Signal frames in progress in a thread's stack memory. A frame is recognised the way the kernel
 * built it (arch/x86/kernel/signal_64.c, signal_32.c, Linux 6.18): at a handler-entry aligned
 * address, a restorer pointing into executable memory, a siginfo with a signal number, the
 * ia32 frames' pinfo/puc pointing at their own members and the gdb-marker retcode, an fpstate
 * pointer above the frame. Each candidate is then decoded in full; one that does not decode is
 * not a frame. The walk starts at the thread's sp and, past the outermost frame found, goes on at
 * the sp that frame interrupted when that lies in other memory (a signal taken on the alt stack
 * while the thread ran on its normal stack).
 */

export type FrameDecoder = (
  kind: FrameKindName,
  memory: { address: bigint; bytes: Uint8Array },
) => DecodedFrame;

export interface FoundFrame {
  readonly address: bigint;
  readonly kind: FrameKindName;
  readonly decoded: DecodedFrame;
}

const UC_KNOWN = BigInt(K.UC_FP_XSTATE | K.UC_SIGCONTEXT_SS | K.UC_STRICT_RESTORE_SS);

interface Probe {
  readonly kind: FrameKindName;
  readonly word: 4 | 8;
  readonly pretcode: number;
  readonly fpstate: number;
  readonly signo: number;
  readonly ucFlags: number | undefined;
  readonly selfPointers: readonly { readonly at: number; readonly to: number }[];
  readonly retcode: { readonly at: number; readonly bytes: readonly number[] } | undefined;
  readonly structSize: number;
}

/** The offsets a probe reads, from the frame structs themselves. */
function probeFor(kind: FrameKindName, t: FrameTarget): Probe {
  const k = frameKinds[kind];
  const model = t.model;
  const l = frameLayout(t);
  const off = (path: string) => offsetOf(k.struct, model, path);
  const derived = k.derived as Readonly<Record<string, string>>;
  const selfPointers = Object.entries(derived)
    .filter(([, d]) => d === 'address_of_info' || d === 'address_of_uc')
    .map(([member, d]) => ({ at: off(member), to: off(d === 'address_of_info' ? 'info' : 'uc') }));
  return {
    kind,
    word: k.abi === 'x86_64' ? 8 : 4,
    pretcode: off('pretcode'),
    fpstate: off(`${k.sigcontext}.fpstate`),
    signo: 'info' in k.struct.fields ? off('info.si_signo') : off('sig'),
    ucFlags: k.ucontext ? off(`${k.ucontext}.uc_flags`) : undefined,
    selfPointers,
    retcode: k.retcode ? { at: off('retcode'), bytes: k.retcode } : undefined,
    structSize: l.structSize,
  };
}

/** Code: an executable segment, or a file mapping the core lists but leaves out (gcore drops them). */
function executable(core: ElfCore, files: readonly MappedFile[], address: bigint): boolean {
  const s = loadAt(core, address);
  if (s) return (s.flags & ELF.PF_X) !== 0;
  return files.some((f) => address >= f.start && address < f.end);
}

function looksLikeFrame(
  core: ElfCore,
  files: readonly MappedFile[],
  p: Probe,
  bytes: Uint8Array,
  at: number,
  address: bigint,
): boolean {
  if (at + p.structSize > bytes.length) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (o: number) =>
    p.word === 8 ? view.getBigUint64(at + o, true) : BigInt(view.getUint32(at + o, true));
  const signo = view.getInt32(at + p.signo, true);
  if (signo < 1 || signo > 64) return false;
  if (p.retcode && !p.retcode.bytes.every((b, i) => bytes[at + p.retcode!.at + i] === b)) return false;
  for (const s of p.selfPointers) if (word(s.at) !== address + BigInt(s.to)) return false;
  if (p.ucFlags !== undefined && (word(p.ucFlags) & ~UC_KNOWN) !== 0n) return false;
  const fp = word(p.fpstate);
  if (fp !== 0n && (fp < address + BigInt(p.structSize) || fp - address > BigInt(CORE_LIMITS.stackScan)))
    return false;
  return executable(core, files, word(p.pretcode));
}

/** Every signal frame from `sp` upwards, innermost first. */
export function findSignalFrames(
  core: ElfCore,
  files: readonly MappedFile[],
  sp: bigint,
  kinds: readonly { kind: FrameKindName; target: FrameTarget }[],
  decodeFrameAt: FrameDecoder,
): FoundFrame[] {
  const probes = kinds.map((k) => probeFor(k.kind, k.target));
  const found: FoundFrame[] = [];
  const visited = new Set<number>();
  let from: bigint | undefined = sp;
  while (from !== undefined && found.length < CORE_LIMITS.frames) {
    const seg = loadAt(core, from);
    if (!seg || visited.has(seg.index)) break;
    visited.add(seg.index);
    const mem = memoryAt(core, from, CORE_LIMITS.stackScan);
    if (!mem) break;
    const start = Number((16n - (from % 16n)) % 16n);
    let next: bigint | undefined;
    for (let at = start; at < mem.bytes.length && found.length < CORE_LIMITS.frames; at += 4) {
      const address = mem.address + BigInt(at);
      for (const p of probes) {
        // Handler entry: (sp + word) % 16 == 0, the psABI's alignment at a call.
        if ((address + BigInt(p.word === 8 ? 8 : 4)) % 16n !== 0n) continue;
        if (!looksLikeFrame(core, files, p, mem.bytes, at, address)) continue;
        let decoded: DecodedFrame;
        try {
          decoded = decodeFrameAt(p.kind, { address, bytes: mem.bytes.subarray(at) });
        } catch (e) {
          if (e instanceof SigframeError) continue;
          throw e;
        }
        found.push({ address, kind: p.kind, decoded });
        at += p.structSize - 4;
        const interrupted = decoded.state.delivery.sp;
        next = loadAt(core, interrupted)?.index === seg.index ? undefined : interrupted;
        break;
      }
    }
    from = next;
  }
  return found;
}

/** How the frame sat on its alt stack: the question a crash on a too-small sigaltstack asks. */
export interface AltstackUse {
  readonly onstack: boolean;
  readonly ss_sp?: bigint;
  readonly ss_size?: bigint;
  readonly ss_flags?: number;
  /** Bytes from the frame start to the alt stack top: what delivery took. */
  readonly used?: bigint;
  /** Bytes left below the frame for the handler. */
  readonly headroom?: bigint;
  readonly fits?: boolean;
  readonly at_minsigstksz?: number;
}

export function altstackUse(d: DecodedFrame, atMinsigstksz: number | undefined): AltstackUse {
  const del = d.state.delivery;
  const a = del.altstack;
  const min = atMinsigstksz !== undefined ? { at_minsigstksz: atMinsigstksz } : {};
  if (!a) return { onstack: false, ...min };
  const top = a.sp + a.size;
  return {
    onstack: del.onstack,
    ss_sp: a.sp,
    ss_size: a.size,
    ss_flags: a.flags,
    ...(del.onstack ? { used: top - d.frame, headroom: d.frame - a.sp, fits: d.frame >= a.sp } : {}),
    ...min,
  };
}
