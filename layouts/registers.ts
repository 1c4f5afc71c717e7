import { array, bytes, pad, struct, u8, u16, u32, u64 } from '../src/schema/node.js';

/**
 * Register layouts of the user XSAVE components in the standard format, one struct each, named as
 * in arch/x86/include/asm/fpu/types.h (Linux 7.3.4). Their sizes are the architectural sizes the
 * kernel compares CPUID.(0xD,i).EAX against (check_xstate_against_struct); sigframe does the same
 * when it reads a profile. The legacy region (components 0 and 1) is uapi `_fpstate_64`.
 */
const src = 'arch/x86/include/asm/fpu/types.h (Linux 7.3.4)';

/** Upper 128 bits of ymm0..15. */
export const ymmh_struct = struct('ymmh_struct', { ymmh_space: array(bytes(16, 4), 16) }, { source: src });

export const mpx_bndreg_state = struct(
  'mpx_bndreg_state',
  { bndreg: array(struct('mpx_bndreg', { lower_bound: u64, upper_bound: u64 }), 4) },
  { source: src },
);

/** BNDCFGU and BNDSTATUS; the component is 64 bytes although only 16 carry state. */
export const mpx_bndcsr_state = struct(
  'mpx_bndcsr_state',
  { bndcfgu: u64, bndstatus: u64, pad_to_64_bytes: pad(48) },
  { source: src },
);

export const avx_512_opmask_state = struct(
  'avx_512_opmask_state',
  { opmask_reg: array(u64, 8) },
  { source: src },
);

/** Upper 256 bits of zmm0..15. */
export const avx_512_zmm_uppers_state = struct(
  'avx_512_zmm_uppers_state',
  { zmm_upper: array(bytes(32, 8), 16) },
  { source: src },
);

/** All 512 bits of zmm16..31. */
export const avx_512_hi16_state = struct(
  'avx_512_hi16_state',
  { hi16_zmm: array(bytes(64, 8), 16) },
  { source: src },
);

export const pkru_state = struct('pkru_state', { pkru: u32, pad: u32 }, { source: src });

/**
 * The 64-byte tile configuration in the LDTILECFG/STTILECFG format (Intel SDM Vol. 1 §18.2,
 * "TILECFG"); the kernel keeps it opaque (struct xtile_cfg).
 */
export const xtile_cfg = struct(
  'xtile_cfg',
  { palette_id: u8, start_row: u8, reserved: bytes(14), colsb: array(u16, 16), rows: array(u8, 16) },
  { source: `${src}; field layout from the Intel SDM TILECFG format` },
);

/**
 * The tile palettes a TILECFG may name (Intel SDM Vol. 1 §18.2; CPUID leaf 0x1D subleaf 1 on
 * every AMX part so far): palette 0 is the INIT state (no tile configured); palette 1 has 8
 * tiles of at most 16 rows × 64 bytes. LDTILECFG raises #GP for any other configuration.
 */
export const tilePalettes: Readonly<
  Record<number, { maxNames: number; maxRows: number; bytesPerRow: number }>
> = { 1: { maxNames: 8, maxRows: 16, bytesPerRow: 64 } };

/** Eight 1 KiB tiles (palette 1: 16 rows × 64 bytes). */
export const xtile_data_state = struct(
  'xtile_data_state',
  { tmm: array(bytes(1024, 1), 8) },
  { source: `${src} (struct xtile_data × max_names, palette 1)` },
);

/** APX extended GPRs r16..r31. */
export const apx_state = struct('apx_state', { egpr: array(u64, 16) }, { source: src });
