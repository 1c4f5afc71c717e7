import type { siginfo } from '../../layouts/frames.js';
import type { SiCodeName, SiginfoLayoutName, SignalName, siginfoLayouts } from '../../layouts/siginfo.js';
import {
  SIGINFO_SIZE,
  type SiginfoAbi,
  siCodeName,
  siCodeValue,
  siginfoFields,
  siginfoFormat,
  siginfoLayout,
  signalName,
  signalNumber,
} from '../kernel/siginfo.js';
import { viewOf } from '../kernel/uaccess.js';
import { encodeInto } from '../schema/encode.js';
import { DecodeError, InputError, SchemaError } from '../schema/errors.js';
import { j } from '../schema/json.js';
import { layoutOf, offsetOf } from '../schema/layout.js';
import type { Infer, StructNode } from '../schema/node.js';
import { decode } from '../schema/parse.js';

/**
 * siginfo decoded per signal and si_code, and encoded back: the header (si_signo, si_errno,
 * si_code), the names of the signal and the code, the layout the kernel's siginfo_layout() gives,
 * and that layout's members of `_sifields` (src/kernel/siginfo.ts, layouts/siginfo.ts). Pointers
 * and longs are bigints under every ABI. The kernel clears siginfo before filling it, so every byte
 * outside the header and the layout's members is zero — encodeSiginfo() writes it so, and what the
 * kernel wrote round-trips byte for byte.
 */

export type { SiginfoAbi } from '../kernel/siginfo.js';
export { SIGINFO_SIZE } from '../kernel/siginfo.js';

/** Members named with a leading `_` are layout placeholders (char _dummy_bnd[…]), not values. */
type Public<T> = { [K in keyof T as K extends `_${string}` ? never : K]: T[K] };

/** The members of `_sifields` a layout has, as decoded. */
export type SiginfoFieldsOf<L extends SiginfoLayoutName> = Public<
  Infer<(typeof siginfoLayouts)[L]['fields']>
>;

/** si_signo, si_errno, si_code: the struct's header. */
export type SiginfoHead = Omit<Infer<typeof siginfo>, '_sifields'>;

interface Names<L extends SiginfoLayoutName> {
  /** The signal's x86 name; null outside 1..31 (real-time signals). */
  readonly signal: SignalName | null;
  /** The si_code's name for this signal; null where no table names it. */
  readonly code: SiCodeName | null;
  readonly layout: L;
}

/** A decoded siginfo: one variant per layout, discriminated by `layout`. */
export type DecodedSiginfo = {
  [L in SiginfoLayoutName]: SiginfoHead & Names<L> & SiginfoFieldsOf<L>;
}[SiginfoLayoutName];

/** Where si_signo, si_errno and si_code lie (the same in siginfo and compat_siginfo_t). */
const HEAD = Object.fromEntries(
  (['si_signo', 'si_errno', 'si_code'] as const).map((m) => {
    const { header, model } = siginfoFormat('x86_64');
    const compat = siginfoFormat('ia32');
    const at = offsetOf(header, model, m);
    if (at !== offsetOf(compat.header, compat.model, m)) throw new Error(`siginfo ${m}: the formats differ`);
    return [m, at];
  }),
) as Record<keyof SiginfoHead, number>;

/**
 * What encodeSiginfo() takes: a decoded siginfo, or the same without the names and the layout,
 * which follow from si_signo and si_code (when given they must agree).
 */
export type SiginfoValue = {
  [L in SiginfoLayoutName]: SiginfoHead & Partial<Names<L>> & SiginfoFieldsOf<L>;
}[SiginfoLayoutName];

/** A struct's value members by name, placeholders included. */
const members = (s: StructNode): { name: string; node: StructNode['fields'][string] }[] =>
  Object.entries(s.fields)
    .filter(([, node]) => node.kind !== 'pad')
    .map(([name, node]) => ({ name, node }));
const shown = (s: StructNode) =>
  members(s)
    .filter((m) => !m.name.startsWith('_'))
    .map((m) => m.name);

/**
 * Decodes the 128-byte siginfo at `offset` as the kernel wrote it for `abi`'s handlers (x86-64:
 * siginfo_t; ia32 and x32: compat_siginfo_t). Throws DecodeError naming the offset when the 128
 * bytes are not all inside `bytes`.
 */
export function decodeSiginfo(bytes: Uint8Array, offset: number, abi: SiginfoAbi): DecodedSiginfo {
  if (!Number.isInteger(offset) || offset < 0 || offset + SIGINFO_SIZE > bytes.length) {
    throw new DecodeError(
      `siginfo: needs ${SIGINFO_SIZE} bytes from offset ${offset}, but the input holds ${bytes.length}${offset >= 0 && offset < bytes.length ? ` (it ends ${bytes.length - offset} bytes in)` : ''}`,
      { path: 'siginfo', offset },
    );
  }
  const f = siginfoFormat(abi);
  // The header's three ints read where the schema puts them: decoding the whole struct would copy
  // the 112-byte union first.
  const dv = viewOf(bytes);
  const head: SiginfoHead = {
    si_signo: dv.getInt32(offset + HEAD.si_signo, true),
    si_errno: dv.getInt32(offset + HEAD.si_errno, true),
    si_code: dv.getInt32(offset + HEAD.si_code, true),
  };
  const layout = siginfoLayout(head.si_signo, head.si_code);
  const raw = decode(siginfoFields(layout, abi), f.model, bytes, offset + f.base) as Record<string, unknown>;
  // Key by key: `{ ...head, ...fields }` and Object.entries() cost more than both decodes.
  const out: Record<string, unknown> = {
    si_signo: head.si_signo,
    si_errno: head.si_errno,
    si_code: head.si_code,
    signal: signalName(head.si_signo),
    code: siCodeName(head.si_signo, head.si_code),
    layout,
  };
  for (const k in raw) if (!k.startsWith('_')) out[k] = raw[k];
  return out as unknown as DecodedSiginfo;
}

const HEAD_KEYS = new Set(['si_signo', 'si_errno', 'si_code', 'signal', 'code', 'layout']);

/**
 * The 128 bytes the kernel writes for `value` in `abi`'s frames: the header, the members of the
 * layout si_signo and si_code select, zero everywhere else (clear_siginfo(), and the compat copy
 * starts from a cleared buffer). Throws SchemaError when a member is missing, out of range, or
 * belongs to another layout, and when `layout`, `signal` or `code` contradict si_signo / si_code.
 */
export function encodeSiginfo(value: SiginfoValue, abi: SiginfoAbi): Uint8Array {
  const v = value as unknown as Record<string, unknown>;
  const { si_signo, si_errno, si_code } = value;
  const layout = siginfoLayout(si_signo, si_code);
  const expect = (key: string, want: unknown) => {
    if (v[key] !== undefined && v[key] !== want)
      throw new SchemaError(
        `siginfo.${key}: si_signo ${si_signo} with si_code ${si_code} is ${JSON.stringify(want)}, not ${JSON.stringify(v[key])}`,
        { path: `siginfo.${key}` },
      );
  };
  expect('layout', layout);
  expect('signal', signalName(si_signo));
  expect('code', siCodeName(si_signo, si_code));
  const f = siginfoFormat(abi);
  const fields = siginfoFields(layout, abi);
  const names = shown(fields);
  for (const k of Object.keys(v)) {
    if (!HEAD_KEYS.has(k) && !names.includes(k))
      throw new SchemaError(`siginfo.${k}: not a member of the ${layout} layout (${names.join(', ')})`, {
        path: `siginfo.${k}`,
      });
  }
  const out = new Uint8Array(SIGINFO_SIZE);
  const sifields = new Uint8Array(SIGINFO_SIZE - f.base);
  encodeInto(f.header, f.model, { si_signo, si_errno, si_code, _sifields: sifields } as never, out);
  const own: Record<string, unknown> = {};
  for (const m of members(fields)) {
    own[m.name] = m.name.startsWith('_') ? placeholderZero(m.node) : v[m.name];
  }
  encodeInto(fields, f.model, own as never, out, f.base);
  return out;
}

function placeholderZero(node: StructNode['fields'][string]): number | bigint {
  return node.kind === 'int' && typeof node.width === 'string' ? 0n : 0;
}

/**
 * Offsets (from the siginfo's start) of non-zero bytes that are neither the header nor a member of
 * the layout — bytes decodeSiginfo() does not show and encodeSiginfo() would not reproduce. Empty
 * for everything the kernel writes itself; a sender's rt_sigqueueinfo() could leave some.
 */
export function siginfoStrayBytes(bytes: Uint8Array, offset: number, abi: SiginfoAbi): number[] {
  const d = decodeSiginfo(bytes, offset, abi);
  const f = siginfoFormat(abi);
  const owned = new Uint8Array(SIGINFO_SIZE);
  for (const m of layoutOf(f.header, f.model).fields) {
    if (m.node.kind !== 'pad' && m.name !== '_sifields') owned.fill(1, m.offset, m.offset + m.size);
  }
  for (const m of layoutOf(siginfoFields(d.layout, abi), f.model).fields) {
    if (m.node.kind !== 'pad' && !m.name.startsWith('_'))
      owned.fill(1, f.base + m.offset, f.base + m.offset + m.size);
  }
  const out: number[] = [];
  for (let i = 0; i < SIGINFO_SIZE; i++) if (!owned[i] && bytes[offset + i] !== 0) out.push(i);
  return out;
}

/** A siginfo member in JSON: a number, or a "0x…" string (as `--json` prints 64-bit values). */
const intOrHex = (v: unknown, p: string, what: string): number => {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  const m = typeof v === 'string' ? /^(-?)0x([0-9a-fA-F]{1,8})$/.exec(v) : null;
  if (m) return (m[1] ? -1 : 1) * Number.parseInt(m[2]!, 16);
  throw new InputError(`${p}: expected ${what}, got ${JSON.stringify(v)}`, { path: p });
};

/**
 * A siginfo in JSON (a state's `siginfo`, or decodeSiginfo() output printed with toJson): si_signo
 * as a number or a name ("SIGSEGV"), si_code as a number or a name ("SEGV_MAPERR", "SI_TKILL"),
 * si_errno optional (0), the layout's members as numbers or "0x…" strings, a member left out being
 * 0 as in a cleared siginfo. `signal`, `code` and `layout` may be given and must then agree.
 * Errors are InputErrors naming the JSON path.
 */
export function parseSiginfoJson(v: unknown, path: string, abi: SiginfoAbi): SiginfoValue {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InputError(`${path}: expected a siginfo object ({ si_signo, si_code, … })`, { path });
  const o = v as Record<string, unknown>;
  const signoRaw = o.si_signo;
  const si_signo =
    typeof signoRaw === 'string' && !signoRaw.startsWith('0x')
      ? (signalNumber(signoRaw) ??
        (() => {
          throw new InputError(`${path}.si_signo: ${JSON.stringify(signoRaw)} is not a signal name`, {
            path: `${path}.si_signo`,
          });
        })())
      : intOrHex(signoRaw, `${path}.si_signo`, 'a signal number 1..64 or name');
  if (si_signo < 1 || si_signo > 64)
    throw new InputError(`${path}.si_signo: ${si_signo} is not a signal (1..64)`, {
      path: `${path}.si_signo`,
    });
  const codeRaw = o.si_code;
  let si_code: number;
  if (typeof codeRaw === 'string' && !/^-?0x/.test(codeRaw)) {
    const c = siCodeValue(si_signo, codeRaw);
    if (typeof c === 'string') throw new InputError(`${path}.si_code: ${c}`, { path: `${path}.si_code` });
    si_code = c;
  } else si_code = intOrHex(codeRaw, `${path}.si_code`, 'an si_code (number or name such as "SEGV_MAPERR")');
  const si_errno = o.si_errno === undefined ? 0 : intOrHex(o.si_errno, `${path}.si_errno`, 'an errno value');
  for (const [k, x] of [
    ['si_code', si_code],
    ['si_errno', si_errno],
  ] as const) {
    if (x < -0x80000000 || x > 0x7fffffff)
      throw new InputError(`${path}.${k}: ${x} does not fit a C int`, { path: `${path}.${k}` });
  }
  const layout = siginfoLayout(si_signo, si_code);
  const checkName = (key: 'layout' | 'signal' | 'code', want: string | null) => {
    if (o[key] !== undefined && o[key] !== want)
      throw new InputError(
        `${path}.${key}: si_signo ${si_signo} with si_code ${si_code} is ${JSON.stringify(want)}, not ${JSON.stringify(o[key])}`,
        { path: `${path}.${key}` },
      );
  };
  checkName('layout', layout);
  checkName('signal', signalName(si_signo));
  checkName('code', siCodeName(si_signo, si_code));
  const f = siginfoFormat(abi);
  const fields = siginfoFields(layout, abi);
  const names = shown(fields);
  const given: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) {
    if (HEAD_KEYS.has(k)) continue;
    if (!names.includes(k))
      throw new InputError(
        `${path}.${k}: not a member of the ${layout} layout (si_signo ${si_signo}, si_code ${si_code}: ${names.join(', ')})`,
        { path: `${path}.${k}` },
      );
    given[k] = x;
  }
  const full = Object.fromEntries(members(fields).map((m) => [m.name, given[m.name] ?? 0]));
  const parsed = j.struct(fields, f.model).parse(full, path) as Record<string, unknown>;
  const own = Object.fromEntries(Object.entries(parsed).filter(([k]) => !k.startsWith('_')));
  return { si_signo, si_errno, si_code, ...own } as SiginfoValue;
}
