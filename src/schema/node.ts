/**
 * Declarative description of C-like structs. A node describes bytes; its layout (size, alignment,
 * field offsets) is computed per data model (see layout.ts), so one definition serves LP64, ILP32
 * and x32 — the way construct and restructure take ABI variants as parameters.
 *
 * Every node carries its decoded value type as a phantom (`_value`), so `Infer<typeof node>` gives
 * the TypeScript type of the parsed object without a hand-written interface.
 */

/** Width of a C integer type whose size depends on the data model (`long`, pointers). */
export type ModelWidth = 'long' | 'pointer';

export interface IntNode<V extends number | bigint = number | bigint> {
  readonly kind: 'int';
  /** C spelling, for docs and generated C. */
  readonly ctype: string;
  /** Fixed size in bytes, or the data-model dependent width. */
  readonly width: 1 | 2 | 4 | 8 | ModelWidth;
  readonly signed: boolean;
  readonly _value?: V;
}

export interface BytesNode {
  readonly kind: 'bytes';
  readonly length: number;
  /** Alignment of the C element type the bytes stand for (e.g. 4 for `__u32 x[n]`). */
  readonly align: number;
  readonly _value?: Uint8Array;
}

export interface ArrayNode<E extends Node = Node> {
  readonly kind: 'array';
  readonly element: E;
  readonly count: number;
  readonly _value?: Infer<E>[];
}

export interface PadNode {
  readonly kind: 'pad';
  readonly length: number;
  readonly _value?: never;
}

export type Fields = { readonly [name: string]: Node };

export interface StructNode<F extends Fields = Fields> {
  readonly kind: 'struct';
  /** C name, e.g. `sigcontext_64`, `_fpstate_32`. */
  readonly name: string;
  readonly fields: F;
  readonly doc: StructDoc;
  readonly _value?: StructValue<F>;
}

export interface StructDoc {
  /** Where the struct is defined, with the kernel version it was checked against. */
  readonly source?: string;
  /** Where user space sees the same bytes: header, C spelling, and the data models it is declared for. */
  readonly uapi?: UapiSpelling;
  /** Why a member is named or typed the way it is (union alias picked, register view of u32 arrays). */
  readonly note?: string;
  /** Signal ABIs whose frames contain this struct (absent: any). */
  readonly abis?: readonly string[];
  /** Laid out by the kernel's compiler (kernel-internal frame structs), not by the user program's. */
  readonly kernelInternal?: true;
}

export interface UapiSpelling {
  readonly header: string;
  readonly ctype: string;
  /** Data models (by name) under which the header declares this very layout. */
  readonly models: readonly string[];
  /** Members whose size differs from the uapi declaration on purpose (offsets still match). */
  readonly except?: readonly string[];
  readonly why?: string;
  /** The C struct keeps sizeof and alignment although an `except` member's size differs. */
  readonly sameSize?: boolean;
  /**
   * The member of `ctype` where this struct starts (e.g. `_sifields` for a union alternative of
   * siginfo_t): offsets are checked as offsetof(ctype, m) − offsetof(ctype, base).
   */
  readonly base?: string;
  /**
   * The struct shows some members of `ctype` only (one alternative of a union): no sizeof or
   * alignof of the whole is checked, and members named with a leading `_` are placeholders for
   * bytes the header names no access macro for (char _dummy_bnd[…]), not checked themselves.
   */
  readonly view?: true;
}

export type Node = IntNode | BytesNode | ArrayNode<Node> | PadNode | StructNode<Fields>;

type ValueKeys<F extends Fields> = { [K in keyof F]: F[K] extends PadNode ? never : K }[keyof F];
export type StructValue<F extends Fields> = { [K in ValueKeys<F>]: Infer<F[K]> };

/** The decoded value type of a node. */
export type Infer<N> =
  N extends IntNode<infer V>
    ? V
    : N extends BytesNode
      ? Uint8Array
      : N extends ArrayNode<infer E>
        ? Infer<E>[]
        : N extends StructNode<infer F>
          ? StructValue<F>
          : never;

const int = <V extends number | bigint>(
  ctype: string,
  width: IntNode['width'],
  signed: boolean,
): IntNode<V> => ({
  kind: 'int',
  ctype,
  width,
  signed,
});

export const u8 = int<number>('__u8', 1, false);
export const u16 = int<number>('__u16', 2, false);
export const u32 = int<number>('__u32', 4, false);
export const i32 = int<number>('int', 4, true);
export const u64 = int<bigint>('__u64', 8, false);
export const i64 = int<bigint>('__s64', 8, true);
/** `unsigned long`: 8 bytes on LP64, 4 on ILP32/x32. Always a bigint so values do not change type with the model. */
export const ulong = int<bigint>('unsigned long', 'long', false);
/** A user pointer (`void *`), sized by the data model. */
export const ptr = int<bigint>('void *', 'pointer', false);

export const bytes = (length: number, align = 1): BytesNode => ({ kind: 'bytes', length, align });
export const array = <E extends Node>(element: E, count: number): ArrayNode<E> => ({
  kind: 'array',
  element,
  count,
});
/** Explicit padding or reserved bytes that the value type does not expose. */
export const pad = (length: number): PadNode => ({ kind: 'pad', length });

export function struct<F extends Fields>(name: string, fields: F, doc: StructDoc = {}): StructNode<F> {
  return { kind: 'struct', name, fields, doc };
}

export function isStruct(node: Node): node is StructNode {
  return node.kind === 'struct';
}
