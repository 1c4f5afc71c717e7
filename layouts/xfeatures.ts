import type { StructNode } from '../src/schema/node.js';
import type { CpuidFieldId } from './cpuid.js';
import * as r from './registers.js';
import { fpstate_64 } from './uapi.js';

/**
 * Every XSAVE state component, as arch/x86/kernel/fpu/xstate.c and asm/fpu/types.h describe them
 * (Linux 7.3.4) plus the Intel SDM Vol. 1 ch. 13 names and AMD's LWP (XCR0 bit 62).
 *
 *  - dmesg: xfeature_names[] — what `x86/fpu: Supporting XSAVE feature 0x…: '…'` prints;
 *  - gate: the CPUID flag in xsave_cpuid_features[] without which the kernel clears the bit
 *    (null: never enabled by Linux). PKRU's gate there is X86_FEATURE_OSPKE, which Linux sets
 *    itself once it has enabled CR4.PKE on a CPU with PKU; a dump's OSPKE bit shows the CR4 of
 *    whatever OS ran CPUID, so the model gates on PKU;
 *  - registers: the struct the component's bytes hold; its size is the architectural size the
 *    kernel checks CPUID.(0xD,n).EAX against. `size` stands alone where the kernel checks a size
 *    but sigframe has no register view (supervisor state), null where nothing is checked.
 */
export interface XfeatureSpec {
  readonly nr: number;
  readonly name: string;
  readonly kernelEnum: string | null;
  readonly dmesg: string;
  readonly sdm: string;
  readonly kind: 'user' | 'supervisor';
  /** FP and SSE live in the 512-byte legacy region, not at a CPUID offset. */
  readonly legacy?: true;
  /** XFEATURE_MASK_USER_DYNAMIC: off by default, enabled per process by ARCH_REQ_XCOMP_PERM (XFD). */
  readonly dynamic?: true;
  /** XFEATURE_MASK_SIGFRAME_INITOPT: not written to a signal frame while in INIT. */
  readonly sigframeInitOpt?: true;
  /** XFEATURE_MASK_INDEPENDENT: supervisor state saved to its own buffers. */
  readonly independent?: true;
  /** Why only 64-bit kernels enable it. */
  readonly kernel64Only?: string;
  readonly gate: CpuidFieldId | null;
  readonly registers?: StructNode;
  readonly size?: number | null;
  /**
   * The bytes of the component, from its start, that XSAVE stores, where fewer than the
   * component's size: the rest stays as it was in memory.
   */
  readonly xsaveStores?: number;
}

const unknown = 'unknown xstate feature';
const XTILE_64 = 'XFEATURE_MASK_XTILE is 0 on CONFIG_X86_32';

export const xfeatures = [
  {
    nr: 0,
    name: 'FP',
    kernelEnum: 'XFEATURE_FP',
    dmesg: 'x87 floating point registers',
    sdm: 'x87 state',
    kind: 'user',
    legacy: true,
    gate: 'fpu',
    registers: fpstate_64,
  },
  {
    nr: 1,
    name: 'SSE',
    kernelEnum: 'XFEATURE_SSE',
    dmesg: 'SSE registers',
    sdm: 'SSE state',
    kind: 'user',
    legacy: true,
    gate: 'sse',
    registers: fpstate_64,
  },
  {
    nr: 2,
    name: 'YMM',
    kernelEnum: 'XFEATURE_YMM',
    dmesg: 'AVX registers',
    sdm: 'AVX state (YMM_Hi128)',
    kind: 'user',
    gate: 'avx',
    registers: r.ymmh_struct,
  },
  {
    nr: 3,
    name: 'BNDREGS',
    kernelEnum: 'XFEATURE_BNDREGS',
    dmesg: 'MPX bounds registers',
    sdm: 'MPX BNDREGS state',
    kind: 'user',
    gate: 'mpx',
    registers: r.mpx_bndreg_state,
  },
  {
    nr: 4,
    name: 'BNDCSR',
    kernelEnum: 'XFEATURE_BNDCSR',
    dmesg: 'MPX CSR',
    sdm: 'MPX BNDCSR state',
    kind: 'user',
    gate: 'mpx',
    registers: r.mpx_bndcsr_state,
  },
  {
    nr: 5,
    name: 'OPMASK',
    kernelEnum: 'XFEATURE_OPMASK',
    dmesg: 'AVX-512 opmask',
    sdm: 'AVX-512 opmask state',
    kind: 'user',
    gate: 'avx512f',
    registers: r.avx_512_opmask_state,
  },
  {
    nr: 6,
    name: 'ZMM_Hi256',
    kernelEnum: 'XFEATURE_ZMM_Hi256',
    dmesg: 'AVX-512 Hi256',
    sdm: 'AVX-512 ZMM_Hi256 state',
    kind: 'user',
    gate: 'avx512f',
    registers: r.avx_512_zmm_uppers_state,
  },
  {
    nr: 7,
    name: 'Hi16_ZMM',
    kernelEnum: 'XFEATURE_Hi16_ZMM',
    dmesg: 'AVX-512 ZMM_Hi256',
    sdm: 'AVX-512 Hi16_ZMM state',
    kind: 'user',
    gate: 'avx512f',
    registers: r.avx_512_hi16_state,
  },
  {
    nr: 8,
    name: 'PT',
    kernelEnum: 'XFEATURE_PT_UNIMPLEMENTED_SO_FAR',
    dmesg: 'Processor Trace (unused)',
    sdm: 'PT state',
    kind: 'supervisor',
    gate: 'intel_pt',
    size: null,
  },
  {
    nr: 9,
    name: 'PKRU',
    kernelEnum: 'XFEATURE_PKRU',
    dmesg: 'Protection Keys User registers',
    sdm: 'PKRU state',
    kind: 'user',
    kernel64Only: 'CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS depends on X86_64',
    gate: 'pku',
    registers: r.pkru_state,
    // PKRU state is the 32-bit PKRU register in bytes 3:0 of its 8-byte component (Intel SDM
    // Vol. 1 §13.5.7); bytes 7:4 are never stored. Seen on AMD EPYC (XCR0 0x207), Linux 6.18.44:
    // those 4 bytes kept the stack's fill pattern in every captured frame, INIT or not.
    xsaveStores: 4,
  },
  {
    nr: 10,
    name: 'PASID',
    kernelEnum: 'XFEATURE_PASID',
    dmesg: 'PASID state',
    sdm: 'PASID state',
    kind: 'supervisor',
    gate: 'enqcmd',
    size: 8,
  },
  {
    nr: 11,
    name: 'CET_USER',
    kernelEnum: 'XFEATURE_CET_USER',
    dmesg: 'Control-flow User registers',
    sdm: 'CET_U state',
    kind: 'supervisor',
    gate: 'cet_ss',
    size: 16,
  },
  {
    nr: 12,
    name: 'CET_KERNEL',
    kernelEnum: 'XFEATURE_CET_KERNEL',
    dmesg: 'Control-flow Kernel registers (KVM only)',
    sdm: 'CET_S state',
    kind: 'supervisor',
    gate: 'cet_ss',
    size: 24,
  },
  {
    nr: 13,
    name: 'HDC',
    kernelEnum: 'XFEATURE_RSRVD_COMP_13',
    dmesg: unknown,
    sdm: 'HDC state',
    kind: 'supervisor',
    gate: null,
    size: null,
  },
  {
    nr: 14,
    name: 'UINTR',
    kernelEnum: 'XFEATURE_RSRVD_COMP_14',
    dmesg: unknown,
    sdm: 'UINTR state',
    kind: 'supervisor',
    gate: null,
    size: null,
  },
  {
    nr: 15,
    name: 'LBR',
    kernelEnum: 'XFEATURE_LBR',
    dmesg: unknown,
    sdm: 'LBR state',
    kind: 'supervisor',
    independent: true,
    gate: 'arch_lbr',
    size: null,
  },
  {
    nr: 16,
    name: 'HWP',
    kernelEnum: 'XFEATURE_RSRVD_COMP_16',
    dmesg: unknown,
    sdm: 'HWP state',
    kind: 'supervisor',
    gate: null,
    size: null,
  },
  {
    nr: 17,
    name: 'XTILE_CFG',
    kernelEnum: 'XFEATURE_XTILE_CFG',
    dmesg: 'AMX Tile config',
    sdm: 'AMX TILECFG state',
    kind: 'user',
    sigframeInitOpt: true,
    kernel64Only: XTILE_64,
    gate: 'amx_tile',
    registers: r.xtile_cfg,
  },
  {
    nr: 18,
    name: 'XTILE_DATA',
    kernelEnum: 'XFEATURE_XTILE_DATA',
    dmesg: 'AMX Tile data',
    sdm: 'AMX TILEDATA state',
    kind: 'user',
    dynamic: true,
    sigframeInitOpt: true,
    kernel64Only: XTILE_64,
    gate: 'amx_tile',
    registers: r.xtile_data_state,
  },
  {
    nr: 19,
    name: 'APX',
    kernelEnum: 'XFEATURE_APX',
    dmesg: 'APX registers',
    sdm: 'APX extended GPR state',
    kind: 'user',
    gate: 'apx_f',
    registers: r.apx_state,
  },
  {
    nr: 62,
    name: 'LWP',
    kernelEnum: null,
    dmesg: unknown,
    sdm: 'AMD lightweight profiling state',
    kind: 'user',
    gate: null,
    size: null,
  },
] as const satisfies readonly XfeatureSpec[];

export type XfeatureName = (typeof xfeatures)[number]['name'];

type ByName = { readonly [X in (typeof xfeatures)[number] as X['name']]: X['nr'] };

/** The kernel's `enum xfeature`: each component's number by its name (XFEATURE.PKRU = 9). */
export const XFEATURE = Object.fromEntries(xfeatures.map((x) => [x.name, x.nr])) as ByName;

const mask = (...names: XfeatureName[]): bigint =>
  names.reduce((m, n) => m | (1n << BigInt(XFEATURE[n])), 0n);

/**
 * The kernel's XFEATURE_MASK_* (arch/x86/include/asm/fpu/xstate.h, types.h): each component's
 * bit, and the groups the kernel names.
 */
export const XFEATURE_MASK = {
  ...(Object.fromEntries(xfeatures.map((x) => [x.name, 1n << BigInt(x.nr)])) as {
    readonly [N in XfeatureName]: bigint;
  }),
  /** XFEATURE_MASK_FPSSE: the legacy region, always in a frame's XSTATE_BV. */
  FPSSE: mask('FP', 'SSE'),
  /** XFEATURE_MASK_AVX512. */
  AVX512: mask('OPMASK', 'ZMM_Hi256', 'Hi16_ZMM'),
  /** MPX's two components, which APX's area overlaps. */
  MPX: mask('BNDREGS', 'BNDCSR'),
  /** XFEATURE_MASK_XTILE: AMX. */
  XTILE: mask('XTILE_CFG', 'XTILE_DATA'),
  /** XFEATURE_MASK_SIGFRAME_INITOPT: components a frame leaves out while they are in INIT. */
  SIGFRAME_INITOPT: mask(
    ...xfeatures.filter((x) => 'sigframeInitOpt' in x && x.sigframeInitOpt).map((x) => x.name),
  ),
} as const;
