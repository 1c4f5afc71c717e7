import { dataModels } from '../../layouts/abi.js';
import { type FrameKind, type FrameKindName, frameKinds } from '../../layouts/frames.js';
import { fpstate_64, fpx_sw_bytes, xstate_header } from '../../layouts/uapi.js';
import { fsaveHeaderSize } from '../kernel/fpu_signal.js';
import { type FlatField, scalarMembers } from '../schema/flat.js';
import { locate, sizeOf } from '../schema/layout.js';
import { memo } from '../schema/memo.js';
import type { StructNode } from '../schema/node.js';
import { valueAt } from '../schema/value.js';
import {
  extendedComponents,
  FIRST_EXTENDED_XFEATURE,
  FXSAVE_RESERVED,
  LEGACY_REGIONS,
  LEGACY_REGISTERS_SIZE,
  SW_RESERVED,
  XSAVE_HDR_SIZE,
  XSAVE_HEADER_OFFSET,
} from '../xsave/catalog.js';
import type { XsaveEnumeration } from '../xsave/enumeration.js';
import { xsaveLayout } from '../xsave/layout.js';
import type { FrameValue } from './state.js';
import type { FrameTarget } from './target.js';

/**
 * One frame target's layout, resolved once: where every part of the frame sits, from the frame
 * struct's members down to each component of the XSAVE image. Derived from the schemas (struct
 * offsets), the frame kinds table (where sigcontext and the ucontext are) and xsaveLayout()
 * (component offsets); the decoder, the sigreturn verdict, the compiled reader and writer, the
 * builder and the map all read it instead of working out offsets of their own.
 */
export interface Field {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
}

export interface Span {
  readonly offset: number;
  readonly size: number;
}

export interface ComponentSlot extends Span {
  readonly nr: number;
  readonly name: string;
  readonly registers: StructNode;
  /** How many bytes from the component's start XSAVE stores (xfeatures' xsaveStores). */
  readonly stores: number;
}

/** The XSAVE image (standard format) a task's frames carry; offsets from its start, buf_fx. */
export interface ImageLayout {
  /** sw_reserved.xstate_size: the image's size, and where FP_XSTATE_MAGIC2 follows it. */
  readonly userSize: number;
  /** x87 (control words, st0–7) and SSE (xmm0–15), as the kernel caches them. */
  readonly fp: Span;
  readonly sse: Span;
  /** Everything up to the reserved bytes: what FXRSTOR and the legacy part of XRSTOR load. */
  readonly registers: Span;
  /** Bytes the hardware reserves (never written by XSAVE). */
  readonly reserved: Span;
  /** The kernel's _fpx_sw_bytes, with each scalar member's place. */
  readonly swReserved: Span & { readonly fields: readonly (readonly [string, Field])[] };
  readonly header: Span & { readonly xstateBv: Field };
  /** Each extended component of the task that has a register struct, by number, in address order. */
  readonly components: ReadonlyMap<number, ComponentSlot>;
}

export interface FrameLayout {
  readonly target: FrameTarget;
  readonly kind: FrameKind;
  /** sizeof the frame struct, under the kernel's data model. */
  readonly structSize: number;
  /** The sigcontext: where it starts, and each scalar member by its uapi name (offsets from the frame). */
  readonly sigcontext: Span & {
    readonly path: string;
    readonly fields: readonly (readonly [string, Field])[];
  };
  readonly fpstatePointer: Field;
  /** The ucontext, for kinds that have one. */
  readonly ucontext: Span | null;
  /** The siginfo, for kinds that carry one (all but the ia32 legacy frame). */
  readonly siginfo: Span | null;
  /** Bytes from sigcontext.fpstate to the image (buf_fx): the ia32 FSAVE header, or 0. */
  readonly fsaveHeader: number;
  readonly image: ImageLayout;
}

const fieldsOf = (fields: readonly FlatField[], base: number): [string, Field][] =>
  fields.map((f) => [f.path, { offset: base + f.offset, size: f.size }]);

const SW_FIELDS = fieldsOf(scalarMembers(fpx_sw_bytes, dataModels.lp64), SW_RESERVED.offset);
const XSTATE_BV = locate(xstate_header, dataModels.lp64, 'xfeatures');

/** The image layout for a CPU and a task's user_xfeatures: standard offsets do not depend on the mask. */
export const imageLayout: (xsave: XsaveEnumeration, userXfeatures: bigint, userSize: number) => ImageLayout =
  memo(
    (xsave: XsaveEnumeration, userXfeatures: bigint, userSize: number): ImageLayout => {
      const regions = xsaveLayout(xsave, userXfeatures, 'standard').regions;
      const components = new Map<number, ComponentSlot>();
      for (const r of [...regions].sort((a, b) => a.offset - b.offset)) {
        if (typeof r.nr !== 'number' || r.nr < FIRST_EXTENDED_XFEATURE) continue;
        const spec = extendedComponents.find((x) => x.nr === r.nr);
        if (spec)
          components.set(r.nr, {
            nr: r.nr,
            name: spec.name,
            offset: r.offset,
            size: r.size,
            registers: spec.registers,
            stores: Math.min(
              r.size,
              'xsaveStores' in spec ? spec.xsaveStores : sizeOf(spec.registers, dataModels.lp64),
            ),
          });
      }
      return {
        userSize,
        fp: LEGACY_REGIONS[0],
        sse: LEGACY_REGIONS[1],
        registers: { offset: 0, size: LEGACY_REGISTERS_SIZE },
        reserved: { offset: FXSAVE_RESERVED.offset, size: FXSAVE_RESERVED.size },
        swReserved: { offset: SW_RESERVED.offset, size: SW_RESERVED.size, fields: SW_FIELDS },
        header: {
          offset: XSAVE_HEADER_OFFSET,
          size: XSAVE_HDR_SIZE,
          xstateBv: { offset: XSAVE_HEADER_OFFSET + XSTATE_BV.offset, size: 8 },
        },
        components,
      };
    },
    (userXfeatures, userSize) => `${userXfeatures}|${userSize}`,
  );

const spanOf = (m: { offset: number; size: number }): Span => ({ offset: m.offset, size: m.size });

/** The layout of a target's frames; resolved once per target. */
export const frameLayout: (t: FrameTarget) => FrameLayout = memo((t: FrameTarget): FrameLayout => {
  const kind = frameKinds[t.kind];
  const sc = locate(kind.struct, t.model, kind.sigcontext);
  const fields = fieldsOf(scalarMembers(sc.node as StructNode, t.model), sc.offset);
  const uc = kind.ucontext === null ? null : locate(kind.struct, t.model, kind.ucontext);
  return {
    target: t,
    kind,
    structSize: sizeOf(kind.struct, t.model),
    sigcontext: { path: kind.sigcontext, offset: sc.offset, size: sc.size, fields },
    fpstatePointer: fields.find(([n]) => n === 'fpstate')![1],
    ucontext: uc && { offset: uc.offset, size: uc.size },
    siginfo: 'info' in kind.struct.fields ? spanOf(locate(kind.struct, t.model, 'info')) : null,
    fsaveHeader: fsaveHeaderSize(kind.fsaveHeader, t.k),
    image: imageLayout(t.profile.xsave, t.task.userXfeatures, t.task.userSize),
  };
});

/** A frame value's sigcontext, wherever its kind keeps it (the frame kinds table says). */
export function sigcontextOf(v: FrameValue, kind: FrameKindName): Record<string, number | bigint> {
  return valueAt(v, frameKinds[kind].sigcontext) as Record<string, number | bigint>;
}

/** The sigcontext members the kernel derives for a kind (frameKinds[kind].derived), by member name. */
export function derivedSigcontextMembers(kind: FrameKindName): readonly string[] {
  const prefix = `${frameKinds[kind].sigcontext}.`;
  return Object.keys(frameKinds[kind].derived)
    .filter((path) => path.startsWith(prefix))
    .map((path) => path.slice(prefix.length));
}

/**
 * The offset in an XSAVE image of a member of its legacy region (`mxcsr`, `sw_reserved.xstate_size`)
 * or of its header (`header.xfeatures`, `header.reserved1[0]`): offsetof() for code that edits
 * images by hand, as tests and fuzzers do.
 */
export function imageOffset(path: string): number {
  if (path.startsWith('header.'))
    return XSAVE_HEADER_OFFSET + locate(xstate_header, dataModels.lp64, path.slice(7)).offset;
  return locate(fpstate_64, dataModels.lp64, path).offset;
}
