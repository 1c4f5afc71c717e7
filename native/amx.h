/*
 * AMX for sigframe's native helpers: the arch_prctl() requests (arch/x86/include/uapi/asm/prctl.h),
 * the tile components' XSTATE bits, and loading all eight tiles of palette 1 with given bytes.
 */
#ifndef SIGFRAME_NATIVE_AMX_H
#define SIGFRAME_NATIVE_AMX_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_XCOMP_SUPP 0x1021
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define XTILE_MASK (3ull << 17) /* TILECFG, TILEDATA */

/* The kernel offers AMX to this process (it may still have to ask for it). */
static inline int sf_amx_offered(void)
{
	uint64_t supp = 0;
	return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_SUPP, &supp) == 0 && (supp >> XFEATURE_XTILEDATA) & 1;
}

/* ARCH_REQ_XCOMP_PERM for tile data: 0, or -1 with errno. */
static inline int sf_amx_request(void)
{
	return (int)syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}

#ifdef __x86_64__
/* Palette 1 with every tile at its largest, 16 rows × 64 bytes: TILEDATA is the eight tiles in order. */
static inline void sf_tiles_config(unsigned char cfg[64])
{
	for (int i = 0; i < 64; i++)
		cfg[i] = 0;
	cfg[0] = 1;
	for (int i = 0; i < 8; i++) {
		cfg[16 + 2 * i] = 64;
		cfg[48 + i] = 16;
	}
}

/* LDTILECFG, then tmm0–7 from 8 KiB at `tiles` (1 KiB each, 64-byte rows). */
static inline void sf_tiles_load(const unsigned char cfg[64], const unsigned char (*tiles)[1024])
{
	__asm__ volatile("ldtilecfg (%0)\n"
			 "tileloadd (%1,%2,1), %%tmm0\n"
			 "tileloadd 1024(%1,%2,1), %%tmm1\n"
			 "tileloadd 2048(%1,%2,1), %%tmm2\n"
			 "tileloadd 3072(%1,%2,1), %%tmm3\n"
			 "tileloadd 4096(%1,%2,1), %%tmm4\n"
			 "tileloadd 5120(%1,%2,1), %%tmm5\n"
			 "tileloadd 6144(%1,%2,1), %%tmm6\n"
			 "tileloadd 7168(%1,%2,1), %%tmm7\n" ::"r"(cfg),
			 "r"(tiles), "r"(64l)
			 : "memory");
}
#endif

#endif
