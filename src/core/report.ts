import { dataModels } from '../../layouts/abi.js';
import type { FrameKindName } from '../../layouts/frames.js';
import { fpstate_64 } from '../../layouts/uapi.js';
import { XFEATURE_MASK } from '../../layouts/xfeatures.js';
import { K } from '../abi/constants.js';
import { fieldById } from '../cpuid/records.js';
import { type DecodedFrame, type PlainDecodedFrame, plainDecoded } from '../frame/decode.js';
import { inferXsaveLayout, type ProfileChoice } from '../frame/infer.js';
import { assembleRegisters, type Registers } from '../frame/registers.js';
import { type DecodedSiginfo, decodeSiginfo } from '../frame/siginfo.js';
import type { Memory } from '../frame/sigreturn.js';
import type { ComponentValues } from '../frame/state.js';
import { frameTarget } from '../frame/target.js';
import type { KernelChoice } from '../kernel/eras.js';
import { atMinsigstksz, maxFrameSize } from '../kernel/signal.js';
import { systemTarget } from '../kernel/system.js';
import type { KernelConfig } from '../kernel/xstate.js';
import type { Profile } from '../profile/profile.js';
import { type LayoutComponent, profileFromXsaveLayout } from '../profile/synthetic.js';
import { DecodeError, InputError } from '../schema/errors.js';
import { sizeOf } from '../schema/layout.js';
import { decode } from '../schema/parse.js';
import {
  bitsOf,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_SIZE,
  has,
  SW_RESERVED,
  xfeature,
  xfeatureName,
} from '../xsave/catalog.js';
import { xsaveLayout } from '../xsave/layout.js';
import type { ElfCore } from './elf.js';
import { type AltstackUse, altstackUse, findSignalFrames } from './frames.js';
import { groupNotes, namedAuxv, type ThreadNotes } from './notes.js';

/**
 * What a core file says about signals: per thread the registers, the extended state decoded with
 * the layout the core names (NT_X86_XSAVE_LAYOUT) or a profile's, the signal info, and every
 * signal frame in progress with the verdict rt_sigreturn would reach — and whether it fitted its
 * alt stack.
 */

/**
 * Where an NT_X86_XSTATE image keeps the XCR0 it was saved under: the first word of sw_reserved
 * (xstate_fx_sw_bytes[USER_XSTATE_XCR0_WORD], arch/x86/kernel/fpu/xstate.c).
 */
export const XSTATE_XCR0_OFFSET = SW_RESERVED.offset;
const XSTATE_BV_OFFSET = FXSAVE_SIZE;

export interface CoreOptions {
  readonly profile?: Profile;
  readonly profileRef?: string;
  /** Shipped profiles to infer the layout from when the core has no layout note and none is given. */
  readonly candidates?: readonly ProfileChoice[];
  /**
   * Decodes a frame found in the core with the core's layout when it fits, else with the layout the
   * frame itself shows (gcore's layout may not be the CPU's) — src/io/frames.ts resolveFrame.
   */
  readonly decodeFrame: (memory: Memory, kind: FrameKindName, named: ProfileChoice) => DecodedFrame;
  readonly kernel: KernelChoice;
  readonly config: KernelConfig;
  /** Only this thread (by tid). */
  readonly thread?: number;
}

export interface XsaveLayoutReport {
  readonly source: 'note' | 'profile' | 'inferred' | 'none';
  readonly xcr0: bigint;
  readonly size: number;
  /** The profile frames are decoded with (a synthetic one built from the note, for `note`). */
  readonly profile: string;
  readonly why: string;
  readonly components: readonly (LayoutComponent & { readonly name: string })[];
  readonly candidates?: readonly string[];
  /**
   * The kernel's AT_MINSIGSTKSZ for this layout (arch/x86/kernel/signal.c) against the crashed
   * process's aux vector: a layout that disagrees is not the one the CPU used.
   */
  readonly at_minsigstksz?: { readonly auxv: number; readonly layout: number; readonly agrees: boolean };
}

export interface CoreThread {
  readonly tid: number;
  /** pr_cursig: the signal the thread stopped with. */
  readonly signal: number;
  readonly registers: Readonly<Record<string, bigint>>;
  readonly xstate?: {
    readonly xstate_bv: bigint;
    readonly components: readonly string[];
    readonly registers: Registers;
  };
  readonly siginfo?: DecodedSiginfo;
  readonly frames: readonly (PlainDecodedFrame & {
    readonly address: bigint;
    readonly kind: FrameKindName;
    readonly altstack: AltstackUse;
  })[];
  readonly notes: readonly string[];
}

export interface CoreReport {
  readonly format: 'sigframe-core/1';
  readonly machine: ElfCore['machine'];
  readonly process: { readonly pid?: number; readonly fname?: string; readonly psargs?: string };
  readonly auxv: Readonly<Record<string, bigint>>;
  readonly xsave_layout: XsaveLayoutReport;
  readonly threads: readonly CoreThread[];
  readonly warnings: readonly string[];
}

const u64At = (b: Uint8Array, at: number) =>
  new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true);

/** A component's CPUID.(0xD,n).ECX in a profile: what NT_X86_XSAVE_LAYOUT records as `flags`. */
function leafDEcx(p: Profile, nr: number): number {
  return p.cpuid.get(fieldById('xsave_offset').leaf, nr)?.ecx ?? 0;
}

function standardComponents(p: Profile, xcr0: bigint): LayoutComponent[] {
  const l = xsaveLayout(p.xsave, xcr0 & ~XFEATURE_MASK.FPSSE, 'standard');
  return l.regions.flatMap((r) =>
    typeof r.nr === 'number' && r.nr >= FIRST_EXTENDED_XFEATURE
      ? [{ nr: r.nr, size: r.size, offset: r.offset, flags: leafDEcx(p, r.nr) }]
      : [],
  );
}

function resolveLayout(
  process: ReturnType<typeof groupNotes>['process'],
  first: ThreadNotes | undefined,
  o: CoreOptions,
  fxMask: number | undefined,
): { report: XsaveLayoutReport; profile: Profile | undefined; warnings: string[] } {
  const warnings: string[] = [];
  const image = first?.xstate?.desc;
  if (!image || image.length < XSTATE_XCR0_OFFSET + 8) {
    const profile = o.profile;
    return {
      report: {
        source: 'none',
        xcr0: 0n,
        size: 0,
        profile: o.profileRef ?? profile?.name ?? 'none',
        why: 'the core has no NT_X86_XSTATE note: only the FXSAVE image is known',
        components: [],
      },
      profile,
      warnings,
    };
  }
  const xcr0 = u64At(image, XSTATE_XCR0_OFFSET);
  const named = (cs: readonly LayoutComponent[]) => cs.map((c) => ({ ...c, name: xfeatureName(c.nr) }));
  if (process.xsaveLayout) {
    const components = process.xsaveLayout;
    if (o.profile) {
      const theirs = standardComponents(o.profile, xcr0);
      for (const c of components) {
        const p = theirs.find((x) => x.nr === c.nr);
        if (p && (p.offset !== c.offset || p.size !== c.size)) {
          warnings.push(
            `--profile ${o.profile.name} puts ${xfeatureName(c.nr)} at ${p.offset}+${p.size}, the core's NT_X86_XSAVE_LAYOUT at ${c.offset}+${c.size}: the note wins`,
          );
        }
      }
    }
    const profile = profileFromXsaveLayout({
      name: 'core-xsave-layout',
      title: `the layout in the core's NT_X86_XSAVE_LAYOUT note (XCR0 0x${xcr0.toString(16)}, ${image.length} bytes)`,
      cite: 'NT_X86_XSAVE_LAYOUT (0x205) of the core file (arch/x86/kernel/fpu/xstate.c, Linux 6.12+)',
      xcr0,
      size: image.length,
      components,
      ...(fxMask !== undefined ? { mxcsrMask: fxMask } : {}),
    });
    return {
      report: {
        source: 'note',
        xcr0,
        size: image.length,
        profile: profile.name,
        why: 'the kernel wrote NT_X86_XSAVE_LAYOUT: each component’s offset as the CPU reported it',
        components: named(components),
      },
      profile,
      warnings,
    };
  }
  if (o.profile) {
    return {
      report: {
        source: 'profile',
        xcr0,
        size: image.length,
        profile: o.profileRef ?? o.profile.name,
        why: 'no NT_X86_XSAVE_LAYOUT note (kernels before 6.12 and gcore write none): the offsets of --profile',
        components: named(standardComponents(o.profile, xcr0)),
      },
      profile: o.profile,
      warnings,
    };
  }
  const inferred = inferXsaveLayout(image, {
    profiles: o.candidates ?? [],
    xcr0,
    kernel: o.kernel,
    config: o.config,
  });
  const where = `NT_X86_XSTATE at file offset 0x${first!.xstate!.offset.toString(16)}`;
  if (inferred.conflict) {
    const say = inferred.conflict.offsets.map((x) => `${x.profiles.join(', ')}: ${x.offset}`).join('; ');
    throw new InputError(
      `the core has no NT_X86_XSAVE_LAYOUT note and XCR0 0x${xcr0.toString(16)} in ${image.length} bytes (${where}) fits layouts that put ${inferred.conflict.component} at different offsets (${say}): give the CPU with --profile`,
      { path: 'profile' },
    );
  }
  const family = inferred.families[0];
  if (!family) {
    throw new InputError(
      `the core has no NT_X86_XSAVE_LAYOUT note and no shipped profile lays out XCR0 0x${xcr0.toString(16)} in ${image.length} bytes (${where}): give the CPU with --profile`,
      { path: 'profile' },
    );
  }
  const name = inferred.exact.find((n) => family.profiles.includes(n)) ?? family.profiles[0]!;
  const profile = o.candidates!.find((c) => c.ref === name)!.profile;
  return {
    report: {
      source: 'inferred',
      xcr0,
      size: image.length,
      profile: name,
      why: `no NT_X86_XSAVE_LAYOUT note (kernels before 6.12 and gcore write none): ${family.profiles.length} shipped profile${family.profiles.length > 1 ? 's' : ''} lay out XCR0 0x${xcr0.toString(16)} in exactly ${image.length} bytes, with these offsets`,
      components: family.components.map((c) => ({
        nr: c.nr,
        name: c.name,
        size: c.size,
        offset: c.offset,
        flags: leafDEcx(profile, c.nr),
      })),
      candidates: family.profiles,
    },
    profile,
    warnings,
  };
}

function xstateOf(
  t: ThreadNotes,
  layout: XsaveLayoutReport,
  xmmCount: 8 | 16,
  notes: string[],
): CoreThread['xstate'] | undefined {
  const image = t.xstate?.desc ?? t.fxsave?.desc;
  if (!image) return undefined;
  const legacy = decode(fpstate_64, dataModels.lp64, image, 0);
  const xstateBv = t.xstate && image.length >= XSTATE_BV_OFFSET + 8 ? u64At(image, XSTATE_BV_OFFSET) : 3n;
  const values: Record<string, unknown> = {};
  for (const c of layout.components) {
    if (!has(xstateBv & layout.xcr0, c.nr)) continue;
    const spec = xfeature(c.nr);
    if (!spec?.registers) continue;
    const size = sizeOf(spec.registers, dataModels.lp64);
    if (size !== c.size || c.offset + size > image.length) {
      notes.push(
        `${spec.name}: the layout gives ${c.size} bytes at ${c.offset}, the component is ${size} bytes and the image ${image.length}: not decoded`,
      );
      continue;
    }
    values[spec.name] = decode(spec.registers, dataModels.lp64, image, c.offset);
  }
  const carried = bitsOf(xstateBv).map(xfeatureName);
  return {
    xstate_bv: xstateBv,
    components: carried,
    registers: assembleRegisters(legacy, values as ComponentValues, xmmCount),
  };
}

function withAuxvCheck(
  l: XsaveLayoutReport,
  profile: Profile | undefined,
  auxv: bigint | undefined,
  o: CoreOptions,
  warnings: string[],
): XsaveLayoutReport {
  if (!profile || auxv === undefined || l.source === 'none') return l;
  const k = systemTarget(profile, o.kernel, o.config).k;
  const model = atMinsigstksz(k, o.kernel.era, o.config) ?? maxFrameSize(k, o.config);
  const agrees = model === Number(auxv);
  if (!agrees) {
    warnings.push(
      `the ${l.source} layout (${l.size} bytes) gives AT_MINSIGSTKSZ ${model}, the process's aux vector says ${auxv}: the NT_X86_XSTATE image is not in the layout the CPU used (gdb's gcore writes its own: Intel's offsets, and only the components gdb knows — gdb 13: x87 to PKRU, no AMX); signal frames are decoded by their own layout`,
    );
  }
  return { ...l, at_minsigstksz: { auxv: Number(auxv), layout: model, agrees } };
}

export type SiginfoDecoder = (bytes: Uint8Array, abi: 'x86_64' | 'ia32') => unknown;

export function coreReport(core: ElfCore, o: CoreOptions): CoreReport {
  const { process, threads } = groupNotes(core);
  if (threads.length === 0)
    throw new DecodeError('the core has no NT_PRSTATUS note: no thread to show', { offset: 0 });
  const chosen = o.thread === undefined ? threads : threads.filter((t) => t.tid === o.thread);
  if (chosen.length === 0) {
    throw new InputError(
      `--thread ${o.thread}: the core's threads are ${threads.map((t) => t.tid).join(', ')}`,
      { path: 'thread' },
    );
  }
  const fx = threads[0]?.fxsave?.desc;
  const fxMask = fx ? new DataView(fx.buffer, fx.byteOffset).getUint32(28, true) : undefined;
  const resolved = resolveLayout(process, threads[0], o, fxMask);
  const { profile, warnings } = resolved;
  const layout = withAuxvCheck(resolved.report, profile, process.auxv.get(K.AT_MINSIGSTKSZ), o, warnings);
  const abi = core.machine === 'x86_64' ? 'x86_64' : 'ia32';
  const kinds: FrameKindName[] = abi === 'x86_64' ? ['x86_64'] : ['ia32-rt', 'ia32'];
  const atMin = process.auxv.get(K.AT_MINSIGSTKSZ);
  const out: CoreThread[] = chosen.map((t) => {
    const notes: string[] = [];
    const xstate = xstateOf(t, layout, abi === 'x86_64' ? 16 : 8, notes);
    let frames: CoreThread['frames'] = [];
    if (profile) {
      const targets = kinds.map((kind) => ({
        kind,
        target: frameTarget(kind, profile, o.kernel, o.config, 'none'),
      }));
      frames = findSignalFrames(core, process.files, t.registers.sp ?? 0n, targets, (kind, memory) =>
        o.decodeFrame(memory, kind, { ref: layout.profile, profile }),
      ).map((f) => ({
        ...plainDecoded(f.decoded),
        address: f.address,
        kind: f.kind,
        altstack: altstackUse(f.decoded, atMin === undefined ? undefined : Number(atMin)),
      }));
    } else notes.push('no XSAVE layout known: signal frames are not searched (give --profile)');
    return {
      tid: t.tid,
      signal: t.cursig,
      registers: t.registers,
      ...(xstate ? { xstate } : {}),
      ...(t.siginfo ? { siginfo: decodeSiginfo(t.siginfo.desc, 0, abi) } : {}),
      frames,
      notes,
    };
  });
  return {
    format: 'sigframe-core/1',
    machine: core.machine,
    process: {
      ...(process.pid !== undefined ? { pid: process.pid } : {}),
      ...(process.fname !== undefined ? { fname: process.fname } : {}),
      ...(process.psargs !== undefined ? { psargs: process.psargs } : {}),
    },
    auxv: namedAuxv(process.auxv),
    xsave_layout: layout,
    threads: out,
    warnings: [...core.warnings, ...warnings],
  };
}
