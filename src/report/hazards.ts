import { valueAt } from '../schema/value.js';

export { valueAt };

/**
 * Hazards of `sigframe size`, as data: each is a comparison between two numbers (or settings) of
 * the same report, named by their JSON paths, and appears exactly when the comparison holds. A
 * hazard carries both operands, so a reader — or a test — can check it against the report.
 */

export type HazardValue = number | string;
export type HazardOp = '<' | '<=' | '!=';

export interface HazardOperand {
  readonly name: string;
  /** Where the value sits in the report's JSON; absent for a fixed value. */
  readonly path?: string;
  readonly value: HazardValue;
}

export interface Hazard {
  readonly code: string;
  readonly message: string;
  readonly left: HazardOperand;
  readonly op: HazardOp;
  readonly right: HazardOperand;
}

/** An operand as a rule names it: a report path (with `{i}` for the state's index) or a constant. */
type OperandSpec =
  | { readonly name: string; readonly path: string }
  | { readonly name: string; readonly value: HazardValue };

export interface HazardRule {
  readonly code: string;
  /** `state`: checked for each entry of `states[]`; `process`: once per report. */
  readonly scope: 'state' | 'process';
  readonly left: OperandSpec;
  readonly op: HazardOp;
  readonly right: OperandSpec;
  readonly message: (l: HazardValue, r: HazardValue, at: (path: string) => unknown) => string;
}

export function compare(l: HazardValue, op: HazardOp, r: HazardValue): boolean {
  if (op === '!=') return l !== r;
  if (typeof l !== 'number' || typeof r !== 'number') return false;
  return op === '<' ? l < r : l <= r;
}

const num = (v: HazardValue) => v as number;

/** The selected C library's row in `libc[]`, named for people. */
const LIBC = 'libc[{libc}]';
const libcName = (at: (p: string) => unknown) =>
  `${String(at(`${LIBC}.libc`))} ${String(at(`${LIBC}.versions`))}`;

export const hazardRules: readonly HazardRule[] = [
  {
    code: 'minsigstksz-short',
    scope: 'state',
    left: { name: 'MINSIGSTKSZ', path: 'legacy.MINSIGSTKSZ' },
    op: '<',
    right: { name: 'allocate.minimum', path: 'states[{i}].allocate.minimum' },
    message: (l, r) => `MINSIGSTKSZ (${l}) is ${num(r) - num(l)} bytes short of the ${r} this thread needs`,
  },
  {
    code: 'sigstksz-short',
    scope: 'state',
    left: { name: 'SIGSTKSZ', path: 'legacy.SIGSTKSZ' },
    op: '<',
    right: { name: 'allocate.minimum', path: 'states[{i}].allocate.minimum' },
    message: (l, r) => `SIGSTKSZ (${l}) is ${num(r) - num(l)} bytes short of the ${r} this thread needs`,
  },
  {
    code: 'sigstksz-refused',
    scope: 'state',
    left: { name: 'SIGSTKSZ', path: 'legacy.SIGSTKSZ' },
    op: '<',
    right: { name: 'sigaltstack.min_accepted', path: 'states[{i}].sigaltstack.min_accepted' },
    message: (l, r) =>
      `sigaltstack() refuses an alt stack of SIGSTKSZ (${l}) bytes with ENOMEM: it accepts nothing under ${r}`,
  },
  {
    code: 'at-minsigstksz-refused',
    scope: 'state',
    left: { name: 'AT_MINSIGSTKSZ', path: 'at_minsigstksz' },
    op: '<',
    right: { name: 'sigaltstack.min_accepted', path: 'states[{i}].sigaltstack.min_accepted' },
    message: (l, r) =>
      `an alt stack of AT_MINSIGSTKSZ (${l}) bytes is refused with ENOMEM: sigaltstack() accepts nothing under ${r} (the frame itself would fit)`,
  },
  {
    code: 'libc-minsigstksz-refused',
    scope: 'process',
    left: { name: 'sysconf(_SC_MINSIGSTKSZ)', path: `${LIBC}.sc_minsigstksz` },
    op: '<',
    right: { name: 'sigaltstack_min', path: `${LIBC}.sigaltstack_min` },
    message: (l, r, at) =>
      `${libcName(at)}: sysconf(_SC_MINSIGSTKSZ) = ${l} is below the ${r} its sigaltstack() accepts: an alt stack of that size is refused (ENOMEM)`,
  },
  {
    code: 'libc-minsigstksz-short',
    scope: 'process',
    left: { name: 'sysconf(_SC_MINSIGSTKSZ)', path: `${LIBC}.sc_minsigstksz` },
    op: '<=',
    right: { name: 'frame.bytes_below_worst_top', path: 'frame.bytes_below_worst_top' },
    message: (l, r, at) =>
      `${libcName(at)}: sysconf(_SC_MINSIGSTKSZ) = ${l} is ${num(r) + 1 - num(l)} bytes short of the ${num(r) + 1} the frame needs (it takes ${r} bytes below the worst top): on an alt stack of that size the kernel does not deliver`,
  },
  {
    code: 'overflow-unchecked',
    scope: 'process',
    left: { name: 'overflow_check', path: 'overflow_check' },
    op: '!=',
    right: { name: 'the check on entering the alt stack', value: 'entering' },
    message: (l) =>
      l === 'none'
        ? 'this kernel never checks these frames against the alt stack: a too-small alt stack is silently overrun (the memory below ss_sp is overwritten)'
        : 'this kernel checks the alt stack only for nested signals: the first signal on a too-small alt stack silently overwrites the memory below ss_sp',
  },
  {
    code: 'perm-enospc',
    scope: 'process',
    left: {
      name: 'sigaltstack.min_accepted (no AMX permission)',
      path: 'states[0].sigaltstack.min_accepted',
    },
    op: '<',
    right: { name: 'arch_req_xcomp_perm.enospc_below', path: 'arch_req_xcomp_perm.enospc_below' },
    message: (l, r) =>
      `ARCH_REQ_XCOMP_PERM fails with ENOSPC while any thread has an alt stack of ${l}–${num(r) - 1} bytes: request AMX permission before creating small alt stacks, or make them all at least ${r}`,
  },
];

/** The rule's paths for one scope instance: `{i}` is the state's index, `{libc}` the selected row. */
export function rulePath(path: string, ctx: { readonly i?: number; readonly libc: number }): string {
  return path.replace('{i}', String(ctx.i ?? 0)).replace('{libc}', String(ctx.libc));
}

function operand(
  spec: OperandSpec,
  root: unknown,
  ctx: { i?: number; libc: number },
): HazardOperand | undefined {
  if ('value' in spec) return { name: spec.name, value: spec.value };
  const path = rulePath(spec.path, ctx);
  const v = valueAt(root, path);
  return typeof v === 'number' || typeof v === 'string' ? { name: spec.name, path, value: v } : undefined;
}

/**
 * The hazards of one scope instance of a report: every rule whose operands exist there and whose
 * comparison holds. `root` is the report itself, so each operand is what the report says.
 */
export function evaluateHazards(
  root: unknown,
  scope: HazardRule['scope'],
  ctx: { readonly i?: number; readonly libc: number },
): Hazard[] {
  const out: Hazard[] = [];
  const at = (p: string) => valueAt(root, rulePath(p, ctx));
  for (const rule of hazardRules) {
    if (rule.scope !== scope) continue;
    const left = operand(rule.left, root, ctx);
    const right = operand(rule.right, root, ctx);
    if (!left || !right || !compare(left.value, rule.op, right.value)) continue;
    out.push({
      code: rule.code,
      message: rule.message(left.value, right.value, at),
      left,
      op: rule.op,
      right,
    });
  }
  return out;
}
