import { type CpuidField, type CpuidFieldId, cpuidFields } from '../../layouts/cpuid.js';
import { InputError } from '../schema/errors.js';

/** One CPUID output: the four registers for (leaf, subleaf). */
export interface CpuidRecord {
  readonly leaf: number;
  readonly subleaf: number;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

export type Register = 'eax' | 'ebx' | 'ecx' | 'edx';

/** The key of a (leaf, subleaf) pair in maps of records. */
export function recordKey(leaf: number, subleaf: number): string {
  return `${leaf}:${subleaf}`;
}

/**
 * A set of CPUID records from one logical CPU, with lookups by field id. What is absent is
 * absent: `get` returns undefined rather than zeros, so an incomplete dump stays visibly
 * incomplete.
 */
export class Cpuid {
  readonly records: readonly CpuidRecord[];
  private readonly byKey: Map<string, CpuidRecord>;

  constructor(records: readonly CpuidRecord[]) {
    this.byKey = new Map();
    for (const r of records) {
      const key = recordKey(r.leaf, r.subleaf);
      if (!this.byKey.has(key)) this.byKey.set(key, r);
    }
    this.records = [...this.byKey.values()].sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf);
  }

  get(leaf: number, subleaf = 0): CpuidRecord | undefined {
    return this.byKey.get(recordKey(leaf, subleaf));
  }

  has(leaf: number, subleaf = 0): boolean {
    return this.byKey.has(recordKey(leaf, subleaf));
  }

  /** Reads a field; for per-component fields (`subleaf: 'n'`) pass the component number. */
  field(id: CpuidFieldId, component?: number): number | undefined {
    const f = fieldById(id);
    const subleaf = f.subleaf === 'n' ? component : f.subleaf;
    if (subleaf === undefined) throw new InputError(`CPUID field ${id} needs a subleaf`);
    const r = this.get(f.leaf, subleaf);
    return r === undefined ? undefined : extract(r[f.reg], f);
  }

  flag(id: CpuidFieldId, component?: number): boolean {
    return this.field(id, component) === 1;
  }

  /** Vendor string from leaf 0 (EBX, EDX, ECX). */
  vendor(): string | undefined {
    const r = this.get(0);
    return r && [r.ebx, r.edx, r.ecx].map(ascii).join('');
  }

  /** Brand string from leaves 0x80000002..4, trimmed; undefined if the dump lacks them. */
  brand(): string | undefined {
    const parts = [0x80000002, 0x80000003, 0x80000004].map((l) => this.get(l));
    if (parts.some((p) => !p)) return undefined;
    return parts
      .map((p) => [p!.eax, p!.ebx, p!.ecx, p!.edx].map(ascii).join(''))
      .join('')
      .replace(/\0.*$/s, '')
      .trim()
      .replace(/\s+/g, ' ');
  }

  /** Display family/model/stepping as the SDM defines them from leaf 1 EAX. */
  signature(): { family: number; model: number; stepping: number } | undefined {
    const base = this.field('base_family_id');
    if (base === undefined) return undefined;
    const family = base === 0xf ? base + this.field('ext_family')! : base;
    const baseModel = this.field('base_model')!;
    const model = base === 0x6 || base === 0xf ? (this.field('ext_model')! << 4) + baseModel : baseModel;
    return { family, model, stepping: this.field('stepping')! };
  }
}

const fieldIndex = new Map<string, CpuidField>(cpuidFields.map((f) => [f.id, f]));

export function fieldById(id: CpuidFieldId): CpuidField {
  return fieldIndex.get(id)!;
}

export function extract(value: number, f: Pick<CpuidField, 'lo' | 'hi'>): number {
  const width = f.hi - f.lo + 1;
  return width === 32 ? value >>> 0 : (value >>> f.lo) & ((1 << width) - 1);
}

function ascii(v: number): string {
  return String.fromCharCode(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

export function hex32(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}
