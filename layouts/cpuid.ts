/**
 * The CPUID bits sigframe reads, described as data in the manner of x86-cpuid-db
 * (db/xml/leaf_*.xml; ids follow its spelling where it has one). Code in src/cpuid reads fields by
 * id from this table; nothing else hard-codes a bit position.
 *
 * `subleaf: 'n'` marks the per-component subleaves 2..63 of leaf 0xD.
 * Sources: Intel SDM Vol. 2A "CPUID" (leaves 01H, 07H, 0DH), AMD APM Vol. 3 (8000_0001h ECX LWP).
 */
export interface CpuidField {
  readonly id: string;
  readonly leaf: number;
  readonly subleaf: number | 'n';
  readonly reg: 'eax' | 'ebx' | 'ecx' | 'edx';
  readonly lo: number;
  readonly hi: number;
  readonly desc: string;
}

const bit = (
  leaf: number,
  subleaf: number | 'n',
  reg: CpuidField['reg'],
  n: number,
  id: string,
  desc: string,
) => ({ id, leaf, subleaf, reg, lo: n, hi: n, desc }) as const;
const bits = (
  leaf: number,
  subleaf: number | 'n',
  reg: CpuidField['reg'],
  lo: number,
  hi: number,
  id: string,
  desc: string,
) => ({ id, leaf, subleaf, reg, lo, hi, desc }) as const;

export const cpuidFields = [
  bits(0x1, 0, 'eax', 0, 3, 'stepping', 'Stepping ID'),
  bits(0x1, 0, 'eax', 4, 7, 'base_model', 'Base CPU model'),
  bits(0x1, 0, 'eax', 8, 11, 'base_family_id', 'Base CPU family ID'),
  bits(0x1, 0, 'eax', 16, 19, 'ext_model', 'Extended CPU model'),
  bits(0x1, 0, 'eax', 20, 27, 'ext_family', 'Extended CPU family ID'),
  bit(0x1, 0, 'ecx', 26, 'xsave', 'XSAVE/XRSTOR instructions'),
  bit(0x1, 0, 'ecx', 27, 'osxsave', 'OS has set CR4.OSXSAVE (reflects the OS that took the dump)'),
  bit(0x1, 0, 'ecx', 28, 'avx', 'AVX instructions'),
  bit(0x1, 0, 'edx', 0, 'fpu', 'Floating point unit on-chip'),
  bit(0x1, 0, 'edx', 24, 'fxsr', 'FXSAVE/FXRSTOR instructions'),
  bit(0x1, 0, 'edx', 25, 'sse', 'SSE instructions'),

  bit(0x7, 0, 'ebx', 5, 'avx2', 'AVX2 instructions'),
  bit(0x7, 0, 'ebx', 14, 'mpx', 'Intel memory protection extensions'),
  bit(0x7, 0, 'ebx', 16, 'avx512f', 'AVX-512 foundation instructions'),
  bit(0x7, 0, 'ebx', 25, 'intel_pt', 'Intel processor trace'),
  bit(0x7, 0, 'ecx', 3, 'pku', 'Protection keys for user-mode pages'),
  bit(0x7, 0, 'ecx', 4, 'ospke', 'OS has set CR4.PKE (reflects the OS that took the dump)'),
  bit(0x7, 0, 'ecx', 7, 'cet_ss', 'CET shadow stack'),
  bit(0x7, 0, 'ecx', 16, 'la57', '57-bit linear addresses: a kernel can run 5-level page tables'),
  bit(0x7, 0, 'ecx', 29, 'enqcmd', 'ENQCMD/ENQCMDS instructions'),
  bit(0x7, 0, 'edx', 19, 'arch_lbr', 'Architectural LBRs'),
  bit(0x7, 0, 'edx', 20, 'ibt', 'CET indirect branch tracking'),
  bit(0x7, 0, 'edx', 24, 'amx_tile', 'AMX tile architecture'),
  bit(0x7, 1, 'edx', 21, 'apx_f', 'APX foundation: extended GPRs r16..r31'),

  bits(0xd, 0, 'eax', 0, 31, 'xcr0_supported_lo', 'XCR0 supported bits 0..31'),
  bits(0xd, 0, 'ebx', 0, 31, 'xsave_sz_xcr0', 'XSAVE area byte size, for the features enabled in XCR0 now'),
  bits(0xd, 0, 'ecx', 0, 31, 'xsave_sz_max', 'XSAVE area max byte size, all supported XCR0 features'),
  bits(0xd, 0, 'edx', 0, 31, 'xcr0_supported_hi', 'XCR0 supported bits 32..63 (AMD LWP is bit 62)'),
  bit(0xd, 1, 'eax', 0, 'xsaveopt', 'XSAVEOPT instruction'),
  bit(0xd, 1, 'eax', 1, 'xsavec', 'XSAVEC instruction (compacted format)'),
  bit(0xd, 1, 'eax', 2, 'xgetbv1', 'XGETBV with ECX=1 (XINUSE)'),
  bit(0xd, 1, 'eax', 3, 'xsaves', 'XSAVES/XRSTORS and the IA32_XSS MSR'),
  bit(0xd, 1, 'eax', 4, 'xfd', 'Extended feature disable (IA32_XFD)'),
  bits(0xd, 1, 'ebx', 0, 31, 'xsave_sz_xcr0_xss', 'XSAVES/XSAVEC area byte size, for XCR0|XSS enabled now'),
  bits(0xd, 1, 'ecx', 0, 31, 'xss_supported_lo', 'IA32_XSS supported bits 0..31'),
  bits(0xd, 1, 'edx', 0, 31, 'xss_supported_hi', 'IA32_XSS supported bits 32..63'),
  bits(0xd, 'n', 'eax', 0, 31, 'xsave_sz', 'Component save area size in bytes'),
  bits(
    0xd,
    'n',
    'ebx',
    0,
    31,
    'xsave_offset',
    'Component offset in the standard format (0 for supervisor components)',
  ),
  bit(0xd, 'n', 'ecx', 0, 'is_xss_bit', 'Component is a supervisor (IA32_XSS) component'),
  bit(
    0xd,
    'n',
    'ecx',
    1,
    'compacted_xsave_64byte_aligned',
    'In the compacted format, the component starts 64-byte aligned',
  ),
  bit(0xd, 'n', 'ecx', 2, 'xfd_faulting', 'Component supports extended feature disable'),

  bit(0x80000001, 0, 'ecx', 15, 'lwp', 'AMD lightweight profiling'),
] as const satisfies readonly CpuidField[];

export type CpuidFieldId = (typeof cpuidFields)[number]['id'];

/** Bits of CPUID.(0xD,n).ECX that are defined; the rest are reported as reserved when set. */
export const LEAF_D_N_ECX_DEFINED = 0b111;

/**
 * Feature dependencies the kernel enforces before it looks at XSAVE components: a flag whose
 * prerequisite is absent is cleared (arch/x86/kernel/cpu/cpuid-deps.c, Linux 7.3.4; only the
 * entries that reach an XSAVE gate are listed).
 */
export const cpuidDeps: readonly (readonly [CpuidFieldId, CpuidFieldId])[] = [
  ['avx', 'xsave'],
  ['avx2', 'avx'],
  ['avx512f', 'avx'],
  ['mpx', 'xsave'],
  ['pku', 'xsave'],
  ['xsaveopt', 'xsave'],
  ['xsavec', 'xsave'],
  ['xsaves', 'xsave'],
  ['xgetbv1', 'xsave'],
  ['xfd', 'xsaves'],
  ['xfd', 'xgetbv1'],
  ['amx_tile', 'xfd'],
  ['cet_ss', 'xsaves'],
];
