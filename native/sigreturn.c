/*
 * sigframe sigreturn experiments: what the running kernel's rt_sigreturn (and, for ia32 legacy
 * frames, sigreturn) does with a frame its handler edited, and what the return to user mode then
 * does. For each edit a child process loads known values into st0, the x87 control word, ymm0 and
 * MXCSR, takes SIGUSR1, lets the handler edit its own frame in one way, and returns. It either
 * survives — and records what came back: st0, FCW, xmm0, ymm0's upper half, MXCSR and the direction
 * flag, each as the pre-signal value ("pattern"), the value the edit put into the frame
 * ("edited"), the initial state ("init"/"zero"/"empty") or something else — or dies. A SIGSEGV is
 * caught to tell *where* it came from: in rt_sigreturn itself ("bad frame": the faulting context is
 * the restorer's system call) or on the return to user mode (the faulting context is the restored
 * one). Built as a 64-bit program and, with -m32 -no-pie, as a 32-bit one, which runs both the
 * SA_SIGINFO (rt) and the legacy frame kinds. Where the CPU and kernel offer AMX, the 64-bit build
 * runs every x86_64 edit again, and some of the tile state's own, in a thread that has loaded tmm0
 * (results marked "amx": "used"): then tmm0 comes back as the pattern, the edit, zero (TILEDATA
 * in INIT) or "init" (TILECFG in INIT: no tile configured). Prints one JSON object. Nothing here reads
 * sigframe's model: offsets come from glibc's struct declarations (fpframe.h) and CPUID.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "amx.h"
#include "fpframe.h"

/* uapi/asm/ucontext.h */
#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4
#define X86_EFLAGS_TF 0x100
#define X86_EFLAGS_DF 0x400
#define X86_EFLAGS_IOPL 0x3000

enum kind {
	K64 = 1,
	KRT = 2,
	KLEGACY = 4,
	KAMX = 8,  /* x86_64, after the thread used AMX */
	KXPL = 16, /* x86_64, the FP image replaced by another frame's (argv[1]) */
};
#define K32 (KRT | KLEGACY)
#define KALL (K64 | K32)

/* What the handler edits: the FP state (fx: the FXSAVE/XSAVE image; fs: the FSAVE header of 32-bit
 * frames), the sigcontext, and the ucontext around it (NULL in legacy frames). */
struct ctx {
	unsigned char *fx, *fs;
	struct sigcontext *sc;
	ucontext_t *uc;
};

static uint32_t ymm_offset; /* CPUID.(0xD,2).EBX: where the upper halves of ymm0-15 are */
static uint32_t tilecfg_offset, tiledata_offset; /* CPUID.(0xD,17/18).EBX */
static uint64_t xcr0;
static unsigned foreign_bit; /* an XSAVE feature bit this CPU's XCR0 does not have */

static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t xstate_size(struct ctx *c) { return get32(c->fx + FX_SW_XSTATE_SIZE); }
static void set_bv(struct ctx *c, uint64_t and_mask, uint64_t or_mask)
{
	put64(c->fx + FX_HDR_XSTATE_BV, (get64(c->fx + FX_HDR_XSTATE_BV) & and_mask) | or_mask);
}
static void set_xfeatures(struct ctx *c, uint64_t v) { put64(c->fx + FX_SW_XFEATURES, v); }
static void set_mxcsr(struct ctx *c, uint32_t or_bits) { put32(c->fx + FX_MXCSR, get32(c->fx + FX_MXCSR) | or_bits); }
static void set_fpstate(struct ctx *c, uintptr_t v) { c->sc->fpstate = (void *)v; }

#ifdef __x86_64__
#define SC_IP(sc) (sc)->rip
#define SC_SP(sc) (sc)->rsp
#define SC_FLAGS(sc) (sc)->eflags
#define SC_SS(sc) (sc)->__pad0
#define KERNEL_ADDRESS 0xffff800000000000ull
#define NONCANONICAL 0x0000800000000000ull
#else
#define SC_IP(sc) (sc)->eip
#define SC_SP(sc) (sc)->esp
#define SC_FLAGS(sc) (sc)->eflags
#define SC_SS(sc) (sc)->ss
#define KERNEL_ADDRESS 0xfffff000u
#endif

/* The edited values the outcome is compared with. */
#define XMM0_EDIT 0xa0
#define YMM0H_EDIT 0xb0
#define FCW_PATTERN 0x027f
#define FCW_EDIT 0x077f
#define MXCSR_PATTERN 0x3f80u
#define MXCSR_EDIT 0x5f80u

static void ed_none(struct ctx *c) { (void)c; }
static void ed_magic1_zero(struct ctx *c) { put32(c->fx + FX_SW_MAGIC1, 0); }
static void ed_magic1_other(struct ctx *c) { put32(c->fx + FX_SW_MAGIC1, FP_XSTATE_MAGIC1 ^ 1); }
static void ed_xstate_size_huge(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, 0x7fffffff); }
static void ed_xstate_size_575(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, FX_HDR + 64 - 1); }
static void ed_xstate_size_576(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, FX_HDR + 64); }
static void ed_xstate_size_less64(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, xstate_size(c) - 64); }
static void ed_xstate_size_plus64(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, xstate_size(c) + 64); }
static void ed_extended_zero(struct ctx *c) { put32(c->fx + FX_SW_EXTENDED_SIZE, 0); }
static void ed_extended_short(struct ctx *c) { put32(c->fx + FX_SW_EXTENDED_SIZE, xstate_size(c) - 1); }
static void ed_extended_huge(struct ctx *c) { put32(c->fx + FX_SW_EXTENDED_SIZE, 0x7fffffff); }
static void ed_magic2_zero(struct ctx *c) { put32(c->fx + xstate_size(c), 0); }
static void ed_magic2_other(struct ctx *c) { put32(c->fx + xstate_size(c), FP_XSTATE_MAGIC2 ^ 1); }
static void ed_xfeatures_fpsse(struct ctx *c) { set_xfeatures(c, 3); }
static void ed_xfeatures_fp(struct ctx *c) { set_xfeatures(c, 1); }
static void ed_xfeatures_none(struct ctx *c) { set_xfeatures(c, 0); }
static void ed_xfeatures_foreign(struct ctx *c) { set_xfeatures(c, get64(c->fx + FX_SW_XFEATURES) | 1ull << foreign_bit); }
static void ed_xfeatures_no_ymm(struct ctx *c) { set_xfeatures(c, get64(c->fx + FX_SW_XFEATURES) & ~4ull); }
static void ed_bv_no_ymm(struct ctx *c) { set_bv(c, ~4ull, 0); }
static void ed_bv_no_sse(struct ctx *c) { set_bv(c, ~2ull, 0); }
static void ed_bv_no_fp(struct ctx *c) { set_bv(c, ~1ull, 0); }
static void ed_bv_zero(struct ctx *c) { set_bv(c, 0, 0); }
static void ed_bv_foreign(struct ctx *c) { set_bv(c, ~0ull, 1ull << foreign_bit); }
static void ed_xcomp_one(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED1(0), 1); }
static void ed_xcomp_compacted(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED1(0), 1ull << 63 | get64(c->fx + FX_HDR_XSTATE_BV)); }
static void ed_xcomp_compacted_no_ymm(struct ctx *c)
{
	ed_xcomp_compacted(c);
	ed_bv_no_ymm(c);
}
static void ed_xcomp_compacted_short(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED1(0), 1ull << 63 | 3); }
static void ed_xcomp_compacted_foreign(struct ctx *c)
{
	put64(c->fx + FX_HDR_RESERVED1(0), 1ull << 63 | get64(c->fx + FX_HDR_XSTATE_BV) | 1ull << foreign_bit);
}
static void ed_hdr_16(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED1(1), 1); }
static void ed_hdr_24(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED2(0), 1); }
static void ed_hdr_48(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED2(3), 1); }
static void ed_hdr_56(struct ctx *c) { put64(c->fx + FX_HDR_RESERVED2(4), 1); }
static void ed_mxcsr_bit31(struct ctx *c) { set_mxcsr(c, 1u << 31); }
static void ed_mxcsr_bit16(struct ctx *c) { set_mxcsr(c, 1u << 16); }
static void ed_mxcsr_bit17(struct ctx *c) { set_mxcsr(c, 1u << 17); }
static void ed_mxcsr_edit(struct ctx *c) { put32(c->fx + FX_MXCSR, MXCSR_EDIT); }
static void ed_mxcsr_bad_xfeatures_fp(struct ctx *c) { ed_mxcsr_bit31(c); ed_xfeatures_fp(c); }
static void ed_mxcsr_bad_xfeatures_none(struct ctx *c) { ed_mxcsr_bit31(c); ed_xfeatures_none(c); }
static void ed_mxcsr_bad_bv_zero(struct ctx *c) { ed_mxcsr_bit31(c); ed_bv_zero(c); }
static void ed_mxcsr_bad_bv_fp(struct ctx *c) { ed_mxcsr_bit31(c); set_bv(c, 1, 0); }
static void ed_mxcsr_bad_fx_only(struct ctx *c) { ed_mxcsr_bit31(c); ed_magic1_zero(c); }
static void ed_mxcsr_mask_zero(struct ctx *c) { put32(c->fx + FX_MXCSR_MASK, 0); }
static void ed_xmm0(struct ctx *c) { for (int j = 0; j < 16; j++) c->fx[FX_XMM0 + j] = XMM0_EDIT + j; }
static void ed_ymm0h(struct ctx *c) { for (int j = 0; j < 16; j++) c->fx[ymm_offset + j] = YMM0H_EDIT + j; }
/* tmm0's bytes: the pattern loaded before the signal, and the edit's. */
#define TMM0_PATTERN(j) ((unsigned char)((j) * 7 + 0x61))
#define TMM0_EDIT(j) ((unsigned char)((j) * 7 + 0x62))
static void ed_tmm0(struct ctx *c) { for (int j = 0; j < 1024; j++) c->fx[tiledata_offset + j] = TMM0_EDIT(j); }
static void ed_bv_no_tiledata(struct ctx *c) { set_bv(c, ~(1ull << 18), 0); }
static void ed_bv_no_tiles(struct ctx *c) { set_bv(c, ~XTILE_MASK, 0); }
static void ed_xfeatures_no_tiles(struct ctx *c) { set_xfeatures(c, get64(c->fx + FX_SW_XFEATURES) & ~XTILE_MASK); }
/* The size of a task without AMX: MAGIC2 is then looked for inside the tile data. */
static void ed_xstate_size_no_tiledata(struct ctx *c) { put32(c->fx + FX_SW_XSTATE_SIZE, tiledata_offset); }
static void ed_tilecfg_palette0(struct ctx *c) { c->fx[tilecfg_offset] = 0; }
/*
 * An XSAVE image from another frame (another CPU's), MAGIC2 included, over this frame's: as much
 * of it as fits below the alt stack's top.
 */
static unsigned char transplant[16384];
static size_t transplant_len;
static unsigned char altstack[65536] __attribute__((aligned(4096)));
static void ed_transplant(struct ctx *c)
{
	size_t room = (size_t)(altstack + sizeof altstack - c->fx);
	memcpy(c->fx, transplant, transplant_len < room ? transplant_len : room);
}
static void ed_xmm0_fx_only(struct ctx *c) { ed_xmm0(c); ed_magic1_zero(c); }
static void ed_ymm0h_bv_no_ymm(struct ctx *c) { ed_ymm0h(c); ed_bv_no_ymm(c); }
/* The sign of st0's 80-bit value: the last byte's top bit. */
static void ed_st0(struct ctx *c) { c->fx[FX_ST0 + 9] ^= 0x80; }
static void ed_fcw(struct ctx *c) { c->fx[FX_CWD] = FCW_EDIT & 0xff, c->fx[FX_CWD + 1] = FCW_EDIT >> 8; }
static void ed_fpstate_null(struct ctx *c) { set_fpstate(c, 0); }
static void ed_fpstate_plus8(struct ctx *c) { set_fpstate(c, (uintptr_t)c->sc->fpstate + 8); }
static void ed_fpstate_plus16(struct ctx *c) { set_fpstate(c, (uintptr_t)c->sc->fpstate + 16); }
static void ed_fpstate_plus64(struct ctx *c) { set_fpstate(c, (uintptr_t)c->sc->fpstate + 64); }
static void ed_fpstate_minus64(struct ctx *c) { set_fpstate(c, (uintptr_t)c->sc->fpstate - 64); }
static void ed_fpstate_unmapped(struct ctx *c) { set_fpstate(c, 4096); }
static void ed_fpstate_kernel(struct ctx *c) { set_fpstate(c, (uintptr_t)KERNEL_ADDRESS); }
#ifndef __x86_64__
static void ed_fs_st0(struct ctx *c) { c->fs[FS_ST0 + 9] ^= 0x80; }
static void ed_fs_cw(struct ctx *c) { put32(c->fs + FS_CW, FCW_EDIT); }
static void ed_fs_magic_ffff(struct ctx *c) { c->fs[FS_MAGIC] = 0xff, c->fs[FS_MAGIC + 1] = 0xff; }
#endif
static void ed_tf(struct ctx *c) { SC_FLAGS(c->sc) |= X86_EFLAGS_TF; }
static void ed_df(struct ctx *c) { SC_FLAGS(c->sc) |= X86_EFLAGS_DF; }
static void ed_iopl(struct ctx *c) { SC_FLAGS(c->sc) |= X86_EFLAGS_IOPL; }
static void ed_ip_zero(struct ctx *c) { SC_IP(c->sc) = 0; }
static void ed_sp_unmapped(struct ctx *c) { SC_SP(c->sc) = 4096; }
static void ed_cs_zero(struct ctx *c) { c->sc->cs = 0; }
static void ed_cs_rpl0(struct ctx *c) { c->sc->cs &= ~3; }
static void ed_cs_ldt(struct ctx *c) { c->sc->cs = 0x7; }
static void ed_ss_zero(struct ctx *c) { SC_SS(c->sc) = 0; }
static void ed_ss_ldt(struct ctx *c) { SC_SS(c->sc) = 0x7; }
static void ed_ss_rpl0(struct ctx *c) { SC_SS(c->sc) &= ~3; }
#ifdef __x86_64__
static void no_strict(struct ctx *c) { c->uc->uc_flags &= ~UC_STRICT_RESTORE_SS; }
static void ed_ss_zero_lax(struct ctx *c) { ed_ss_zero(c); no_strict(c); }
static void ed_ss_ldt_lax(struct ctx *c) { ed_ss_ldt(c); no_strict(c); }
static void ed_ss_rpl0_lax(struct ctx *c) { ed_ss_rpl0(c); no_strict(c); }
static void ed_ss_zero_no_sigcontext_ss(struct ctx *c)
{
	ed_ss_zero(c);
	c->uc->uc_flags &= ~(UC_STRICT_RESTORE_SS | UC_SIGCONTEXT_SS);
}
static void ed_ip_noncanonical(struct ctx *c) { SC_IP(c->sc) = NONCANONICAL; }
/*
 * 32-bit code with an IP beyond 4 GiB whose low half is below mmap_min_addr: the outcome does not
 * depend on what is mapped. AMD's IRET checks all of RIP against CS's limit (#GP); Intel's checks
 * EIP and resumes there, so the first fetch faults at the low half (#PF, si_addr 0x1000).
 */
static void ed_cs_user32_ip_high(struct ctx *c)
{
	c->sc->cs = 0x23;
	SC_IP(c->sc) = 0x100001000ul;
}
static void ed_fs_gs(struct ctx *c) { c->sc->fs = 0x1234, c->sc->gs = 0x1234; }
static void ed_uc_flags_zero(struct ctx *c) { c->uc->uc_flags = 0; }
#else
static void ed_ds_garbage(struct ctx *c) { c->sc->ds = 0x1234; }
static void ed_es_garbage(struct ctx *c) { c->sc->es = 0x1234; }
static void ed_fs_garbage(struct ctx *c) { c->sc->fs = 0x1234; }
static void ed_gs_garbage(struct ctx *c) { c->sc->gs = 0x1234; }
static void ed_ds_zero(struct ctx *c) { c->sc->ds = 0; }
#endif
static void ed_uc_stack_garbage(struct ctx *c) { c->uc->uc_stack.ss_flags = 0x12345; }

static const struct edit {
	const char *name;
	int kinds;
	void (*apply)(struct ctx *);
} edits[] = {
	{ "none", KALL, ed_none },
	{ "tmm0_edit", KAMX, ed_tmm0 },
	{ "bv_no_tiledata", KAMX, ed_bv_no_tiledata },
	{ "bv_no_tiles", KAMX, ed_bv_no_tiles },
	{ "xfeatures_no_tiles", KAMX, ed_xfeatures_no_tiles },
	{ "xstate_size_no_tiledata", KAMX, ed_xstate_size_no_tiledata },
	{ "tilecfg_palette0", KAMX, ed_tilecfg_palette0 },
	{ "transplant", KXPL, ed_transplant },
	{ "magic1_zero", KALL, ed_magic1_zero },
	{ "magic1_other", KALL, ed_magic1_other },
	{ "xstate_size_huge", KALL, ed_xstate_size_huge },
	{ "xstate_size_575", KALL, ed_xstate_size_575 },
	{ "xstate_size_576", KALL, ed_xstate_size_576 },
	{ "xstate_size_less64", KALL, ed_xstate_size_less64 },
	{ "xstate_size_plus64", KALL, ed_xstate_size_plus64 },
	{ "extended_size_zero", KALL, ed_extended_zero },
	{ "extended_size_short", KALL, ed_extended_short },
	{ "extended_size_huge", KALL, ed_extended_huge },
	{ "magic2_zero", KALL, ed_magic2_zero },
	{ "magic2_other", KALL, ed_magic2_other },
	{ "xfeatures_fpsse", KALL, ed_xfeatures_fpsse },
	{ "xfeatures_fp", KALL, ed_xfeatures_fp },
	{ "xfeatures_none", KALL, ed_xfeatures_none },
	{ "xfeatures_foreign", KALL, ed_xfeatures_foreign },
	{ "xfeatures_no_ymm", KALL, ed_xfeatures_no_ymm },
	{ "xstate_bv_no_ymm", KALL, ed_bv_no_ymm },
	{ "xstate_bv_no_sse", KALL, ed_bv_no_sse },
	{ "xstate_bv_no_fp", KALL, ed_bv_no_fp },
	{ "xstate_bv_zero", KALL, ed_bv_zero },
	{ "xstate_bv_foreign", KALL, ed_bv_foreign },
	{ "xcomp_bv_one", KALL, ed_xcomp_one },
	{ "xcomp_bv_compacted", KALL, ed_xcomp_compacted },
	{ "xcomp_bv_compacted_no_ymm", KALL, ed_xcomp_compacted_no_ymm },
	{ "xcomp_bv_compacted_short", KALL, ed_xcomp_compacted_short },
	{ "xcomp_bv_compacted_foreign", KALL, ed_xcomp_compacted_foreign },
	{ "header_16", KALL, ed_hdr_16 },
	{ "header_24", KALL, ed_hdr_24 },
	{ "header_48", KALL, ed_hdr_48 },
	{ "header_56", KALL, ed_hdr_56 },
	{ "mxcsr_bit31", KALL, ed_mxcsr_bit31 },
	{ "mxcsr_bit16", KALL, ed_mxcsr_bit16 },
	{ "mxcsr_bit17", KALL, ed_mxcsr_bit17 },
	{ "mxcsr_edit", KALL, ed_mxcsr_edit },
	{ "mxcsr_bad_xfeatures_fp", KALL, ed_mxcsr_bad_xfeatures_fp },
	{ "mxcsr_bad_xfeatures_none", KALL, ed_mxcsr_bad_xfeatures_none },
	{ "mxcsr_bad_xstate_bv_zero", KALL, ed_mxcsr_bad_bv_zero },
	{ "mxcsr_bad_xstate_bv_fp", KALL, ed_mxcsr_bad_bv_fp },
	{ "mxcsr_bad_fx_only", KALL, ed_mxcsr_bad_fx_only },
	{ "mxcsr_mask_zero", KALL, ed_mxcsr_mask_zero },
	{ "xmm0_edit", KALL, ed_xmm0 },
	{ "ymm0h_edit", KALL, ed_ymm0h },
	{ "xmm0_edit_fx_only", KALL, ed_xmm0_fx_only },
	{ "ymm0h_edit_xstate_bv_no_ymm", KALL, ed_ymm0h_bv_no_ymm },
	{ "st0_edit", KALL, ed_st0 },
	{ "fcw_edit", KALL, ed_fcw },
	{ "fpstate_null", KALL, ed_fpstate_null },
	{ "fpstate_plus8", KALL, ed_fpstate_plus8 },
	{ "fpstate_plus16", KALL, ed_fpstate_plus16 },
	{ "fpstate_plus64", KALL, ed_fpstate_plus64 },
	{ "fpstate_minus64", KALL, ed_fpstate_minus64 },
	{ "fpstate_unmapped", KALL, ed_fpstate_unmapped },
	{ "fpstate_kernel", KALL, ed_fpstate_kernel },
#ifndef __x86_64__
	{ "fsave_st0_edit", K32, ed_fs_st0 },
	{ "fsave_cw_edit", K32, ed_fs_cw },
	{ "fsave_magic_ffff", K32, ed_fs_magic_ffff },
#endif
	{ "flags_tf", KALL, ed_tf },
	{ "flags_df", KALL, ed_df },
	{ "flags_iopl", KALL, ed_iopl },
	{ "ip_zero", KALL, ed_ip_zero },
	{ "sp_unmapped", KALL, ed_sp_unmapped },
	{ "cs_zero", KALL, ed_cs_zero },
	{ "cs_rpl0", KALL, ed_cs_rpl0 },
	{ "cs_ldt", KALL, ed_cs_ldt },
	{ "ss_zero", KALL, ed_ss_zero },
	{ "ss_ldt", KALL, ed_ss_ldt },
	{ "ss_rpl0", KALL, ed_ss_rpl0 },
#ifdef __x86_64__
	{ "ss_zero_lax", K64, ed_ss_zero_lax },
	{ "ss_ldt_lax", K64, ed_ss_ldt_lax },
	{ "ss_rpl0_lax", K64, ed_ss_rpl0_lax },
	{ "ss_zero_no_sigcontext_ss", K64, ed_ss_zero_no_sigcontext_ss },
	{ "ip_noncanonical", K64, ed_ip_noncanonical },
	{ "cs_user32_ip_high", K64, ed_cs_user32_ip_high },
	{ "fs_gs_garbage", K64, ed_fs_gs },
	{ "uc_flags_zero", K64, ed_uc_flags_zero },
#else
	{ "ds_garbage", K32, ed_ds_garbage },
	{ "es_garbage", K32, ed_es_garbage },
	{ "fs_garbage", K32, ed_fs_garbage },
	{ "gs_garbage", K32, ed_gs_garbage },
	{ "ds_zero", K32, ed_ds_zero },
#endif
	{ "uc_stack_garbage", K64 | KRT, ed_uc_stack_garbage },
};
#define NEDITS (sizeof edits / sizeof edits[0])

/*
 * The children report through raw system calls: an edit may leave the i386 TLS segment (%gs)
 * null, and glibc's write() and _exit() go through it.
 */
static long raw_write(int fd, const void *buf, unsigned long n)
{
	long r;
#ifdef __x86_64__
	__asm__ volatile("syscall" : "=a"(r) : "0"(1L), "D"((long)fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
#else
	__asm__ volatile("int $0x80" : "=a"(r) : "0"(4L), "b"(fd), "c"(buf), "d"(n) : "memory");
#endif
	return r;
}

static __attribute__((noreturn)) void raw_exit(int code)
{
	for (;;) {
#ifdef __x86_64__
		__asm__ volatile("syscall" : : "a"(231L), "D"((long)code) : "rcx", "r11", "memory");
#else
		__asm__ volatile("int $0x80" : : "a"(252L), "b"(code) : "memory");
#endif
	}
}

static const struct edit *current;

/*
 * The handler's entry stack pointer is the frame's start: a stub records it before the C handler
 * runs. The frame runs from there to the alt stack's top.
 */
uintptr_t entry_sp;
void handler_rt(int sig, siginfo_t *si, void *ucv);
void handler_legacy(int sig);
#ifdef __x86_64__
__asm__(".text\n.globl entry_rt\nentry_rt:\n\tmovq %rsp, entry_sp(%rip)\n\tjmp handler_rt\n");
#else
__asm__(".text\n.globl entry_rt\nentry_rt:\n\tmovl %esp, entry_sp\n\tjmp handler_rt\n"
	".globl entry_legacy\nentry_legacy:\n\tmovl %esp, entry_sp\n\tjmp handler_legacy\n");
#endif
void entry_rt(int, siginfo_t *, void *);
void entry_legacy(int);

/* The frame as the kernel wrote it, and as the edit left it, go back to the parent. */
static unsigned char *shared_frame;
#define MAX_FRAME 32768
static int report_fd;

static void apply(struct sigcontext *sc, ucontext_t *uc)
{
	struct ctx c = { .sc = sc, .uc = uc };
	unsigned char *fp = (unsigned char *)sc->fpstate;
	uintptr_t size = (uintptr_t)(altstack + sizeof altstack) - entry_sp;
	if (size > MAX_FRAME)
		size = MAX_FRAME;
	/* [address][size][the frame as written][the frame as edited] */
	memcpy(shared_frame, &entry_sp, sizeof entry_sp);
	memcpy(shared_frame + 8, &size, sizeof size);
	memcpy(shared_frame + 16, (void *)entry_sp, size);
	c.fx = fp + FX_IMAGE;
	c.fs = fp;
	current->apply(&c);
	memcpy(shared_frame + 16 + MAX_FRAME, (void *)entry_sp, size);
}

void handler_rt(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	apply((struct sigcontext *)&uc->uc_mcontext, uc);
}

#ifndef __x86_64__
/* A legacy frame: sig sits at frame + 4, its sigcontext right after it. */
void handler_legacy(int sig)
{
	apply((struct sigcontext *)(&sig + 1), NULL);
}
#endif

/*
 * A SIGSEGV after the edit, and from where: a fault on the return to user mode or after it sets
 * the thread's trap number (13, #GP; 14, #PF) the signal frame reports in sigcontext.trapno; the
 * SIGSEGV rt_sigreturn itself forces for a bad frame (signal_fault()) sets none, so the child,
 * fresh from fork() and never trapped, reports 0.
 */
static void on_segv(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	unsigned char rec[24] = { 'S' };
	int code = si->si_code, trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
	uint64_t addr = (uintptr_t)si->si_addr;
	memcpy(rec + 4, &code, 4);
	memcpy(rec + 8, &trapno, 4);
	memcpy(rec + 16, &addr, 8);
	if (raw_write(report_fd, rec, sizeof rec) != sizeof rec)
		raw_exit(4);
	raw_exit(0);
}

/* What the child sends back when it survives. */
struct outcome {
	unsigned char tag;
	unsigned char pad[7];
	unsigned char ymm0[32];
	uint16_t fcw;
	uint16_t pad2[3];
	double st0;
	uint32_t mxcsr;
	uint32_t pad3;
	unsigned long flags;
	unsigned char tmm0[1024]; /* AMX runs: tmm0 after the return, if a tile is configured */
	/* Transplants on an AVX-512 CPU: k0, zmm0's upper 256 bits and xmm16 after the return. */
	uint64_t k0;
	unsigned char zmm0_hi[32];
	unsigned char zmm16[16];
	unsigned char tilecfg[64];
};

static const double ST0_PATTERN = 1.25;

#ifdef __x86_64__
static void load_tmm0(void)
{
	static unsigned char cfg[64] __attribute__((aligned(64)));
	static unsigned char t[1024] __attribute__((aligned(64)));
	cfg[0] = 1;   /* palette 1 */
	cfg[16] = 64; /* tile 0: 64 bytes a row */
	cfg[48] = 16; /* 16 rows */
	for (int j = 0; j < 1024; j++)
		t[j] = TMM0_PATTERN(j);
	__asm__ volatile("ldtilecfg %0\n\ttileloadd (%1,%2,1), %%tmm0" ::"m"(cfg), "r"(t), "r"(64l) : "memory");
}

/* After the return: TILECFG, and tmm0 only if a tile is configured (else tile loads raise #UD). */
static void read_tmm0(struct outcome *o)
{
	__asm__ volatile("sttilecfg %0" : "=m"(o->tilecfg));
	if (o->tilecfg[0] != 0)
		__asm__ volatile("tilestored %%tmm0, (%0,%1,1)" ::"r"(o->tmm0), "r"(64l) : "memory");
}
#endif

static void child(int kind)
{
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_ONSTACK | (kind == KLEGACY ? 0 : SA_SIGINFO);
#ifdef __x86_64__
	sa.sa_sigaction = entry_rt;
#else
	if (kind == KLEGACY)
		sa.sa_handler = entry_legacy;
	else
		sa.sa_sigaction = entry_rt;
#endif
	struct sigaction segv;
	memset(&segv, 0, sizeof segv);
	segv.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	segv.sa_sigaction = on_segv;
	if (sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGSEGV, &segv, NULL))
		_exit(2);
#ifdef __x86_64__
	if (kind & KAMX) {
		if (sf_amx_request() != 0)
			_exit(2);
		load_tmm0();
	}
#endif
	unsigned char pat[32] __attribute__((aligned(32)));
	for (int j = 0; j < 32; j++)
		pat[j] = (unsigned char)(0x40 + j);
	const uint16_t fcw = FCW_PATTERN;
	const uint32_t mxcsr = MXCSR_PATTERN;
	struct outcome o;
	memset(&o, 0, sizeof o);
	o.tag = 'R';
	/* Load the state, raise the signal with a raw system call, and read the state back before the
	 * compiler can touch it. */
#ifdef __x86_64__
	long nr = 62; /* kill */
	long wide = (kind & KXPL) && (xcr0 & 0xe0) == 0xe0;
	__asm__ volatile("vmovdqu (%[pat]), %%ymm0\n\t"
			 "fldl %[st0]\n\t"
			 "fldcw %[fcw]\n\t"
			 "ldmxcsr %[mx]\n\t"
			 "syscall\n\t"
			 "testq %[w], %[w]\n\t"
			 "jz 1f\n\t"
			 "kmovq %%k0, %[k0]\n\t"
			 "vextracti64x4 $1, %%zmm0, %[zh]\n\t"
			 "vmovdqu64 %%xmm16, %[z16]\n"
			 "1:\tvmovdqu %%ymm0, %[y]\n\t"
			 "fnstcw %[cw]\n\t"
			 "fstpl %[s0]\n\t"
			 "stmxcsr %[m]\n\t"
			 "pushfq\n\t"
			 "popq %[fl]\n\t"
			 : "+a"(nr), [y] "=m"(o.ymm0), [cw] "=m"(o.fcw), [s0] "=m"(o.st0), [m] "=m"(o.mxcsr),
			   [fl] "=m"(o.flags), [k0] "=m"(o.k0), [zh] "=m"(o.zmm0_hi), [z16] "=m"(o.zmm16)
			 : [pat] "r"(pat), [st0] "m"(ST0_PATTERN), [fcw] "m"(fcw), [mx] "m"(mxcsr),
			   "D"((long)getpid()), "S"((long)SIGUSR1), [w] "r"(wide)
			 : "rcx", "r11", "memory", "xmm0", "st");
#else
	long nr = 37; /* kill */
	__asm__ volatile("vmovdqu (%[pat]), %%ymm0\n\t"
			 "fldl %[st0]\n\t"
			 "fldcw %[fcw]\n\t"
			 "ldmxcsr %[mx]\n\t"
			 "int $0x80\n\t"
			 "vmovdqu %%ymm0, %[y]\n\t"
			 "fnstcw %[cw]\n\t"
			 "fstpl %[s0]\n\t"
			 "stmxcsr %[m]\n\t"
			 "pushfl\n\t"
			 "popl %[fl]\n\t"
			 : "+a"(nr), [y] "=m"(o.ymm0), [cw] "=m"(o.fcw), [s0] "=m"(o.st0), [m] "=m"(o.mxcsr),
			   [fl] "=m"(o.flags)
			 : [pat] "S"(pat), [st0] "m"(ST0_PATTERN), [fcw] "m"(fcw), [mx] "m"(mxcsr),
			   "b"((long)getpid()), "c"((long)SIGUSR1)
			 : "memory", "st");
#endif
	/* Clear DF before any library code runs: the string functions assume it is clear. */
	__asm__ volatile("cld" ::: "memory");
#ifdef __x86_64__
	if (kind & KAMX)
		read_tmm0(&o);
#endif
	if (raw_write(report_fd, &o, sizeof o) != sizeof o)
		raw_exit(3);
	raw_exit(0);
}

static const char *vec_state(const unsigned char *b, int pattern, int edit)
{
	int pat = 1, ed = 1, zero = 1;
	for (int j = 0; j < 16; j++) {
		pat &= b[j] == pattern + j;
		ed &= b[j] == edit + j;
		zero &= b[j] == 0;
	}
	return pat ? "pattern" : ed ? "edited" : zero ? "zero" : "other";
}

static const char *tmm0_state(const struct outcome *o)
{
	if (o->tilecfg[0] == 0)
		return "init";
	int pat = 1, ed = 1, zero = 1;
	for (int j = 0; j < 1024; j++) {
		pat &= o->tmm0[j] == TMM0_PATTERN(j);
		ed &= o->tmm0[j] == TMM0_EDIT(j);
		zero &= o->tmm0[j] == 0;
	}
	return pat ? "pattern" : ed ? "edited" : zero ? "zero" : "other";
}

static const char *st0_state(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	if (v == ST0_PATTERN)
		return "pattern";
	if (v == -ST0_PATTERN)
		return "edited";
	if (bits == 0xfff8000000000000ull)
		return "empty"; /* the x87 indefinite a store from an empty (INIT) register gives */
	return "other";
}

static void hex(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

/* The edit as the byte ranges that differ from the frame the kernel wrote: [{at, bytes}, …]. */
static void print_patch(const unsigned char *before, const unsigned char *after, size_t n)
{
	printf("\"patch\": [");
	int first = 1;
	for (size_t i = 0; i < n;) {
		if (before[i] == after[i]) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && (before[j] != after[j] || (j + 1 < n && before[j + 1] != after[j + 1])))
			j++;
		printf("%s{\"at\": %zu, \"bytes\": \"", first ? "" : ", ", i);
		hex(after + i, j - i);
		printf("\"}");
		first = 0;
		i = j;
	}
	printf("]");
}

static void run(int kind, const char *kind_name, int *first, int *printed_frame)
{
	for (unsigned i = 0; i < NEDITS; i++) {
		if (!(edits[i].kinds & kind))
			continue;
		int p[2];
		if (pipe(p) != 0)
			exit(1);
		fflush(stdout);
		current = &edits[i];
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			report_fd = p[1];
			child(kind);
		}
		close(p[1]);
		unsigned char buf[sizeof(struct outcome)];
		ssize_t n = read(p[0], buf, sizeof buf);
		close(p[0]);
		int st;
		waitpid(pid, &st, 0);
		uintptr_t address;
		uintptr_t size;
		memcpy(&address, shared_frame, sizeof address);
		memcpy(&size, shared_frame + 8, sizeof size);
		printf("%s\n    {\"kind\": \"%s\", %s\"edit\": \"%s\", ", *first ? "" : ",", kind_name,
		       kind & KAMX ? "\"amx\": \"used\", " : "", edits[i].name);
		*first = 0;
		if (size > 0 && size <= MAX_FRAME) {
			if (!*printed_frame) {
				printf("\"frame\": {\"address\": \"0x%llx\", \"bytes\": \"", (unsigned long long)address);
				hex(shared_frame + 16, size);
				printf("\"}, ");
				*printed_frame = 1;
			}
			print_patch(shared_frame + 16, shared_frame + 16 + MAX_FRAME, size);
			printf(", ");
		}
		memset(shared_frame, 0, 16);
		if (n == sizeof(struct outcome) && buf[0] == 'R') {
			struct outcome o;
			memcpy(&o, buf, sizeof o);
			printf("\"outcome\": \"survived\", \"xmm0\": \"%s\", \"ymm0_high\": \"%s\", \"st0\": \"%s\", "
			       "\"fcw\": \"0x%x\", \"mxcsr\": \"0x%x\", \"df\": %d",
			       vec_state(o.ymm0, 0x40, XMM0_EDIT), vec_state(o.ymm0 + 16, 0x50, YMM0H_EDIT),
			       st0_state(o.st0), o.fcw, o.mxcsr, (o.flags & X86_EFLAGS_DF) ? 1 : 0);
			if (kind & KAMX)
				printf(", \"tmm0\": \"%s\"", tmm0_state(&o));
			if ((kind & KXPL) && (xcr0 & 0xe0) == 0xe0) {
				printf(", \"k0\": \"0x%llx\", \"zmm0_hi\": \"", (unsigned long long)o.k0);
				hex(o.zmm0_hi, sizeof o.zmm0_hi);
				printf("\", \"xmm16\": \"");
				hex(o.zmm16, sizeof o.zmm16);
				printf("\"");
			}
			printf("}");
		} else if (n >= 24 && buf[0] == 'S') {
			int code, trapno;
			uint64_t addr;
			memcpy(&code, buf + 4, 4);
			memcpy(&trapno, buf + 8, 4);
			memcpy(&addr, buf + 16, 8);
			printf("\"outcome\": \"sigsegv\", \"phase\": \"%s\", \"si_code\": %d, \"trapno\": %d, "
			       "\"si_addr\": \"0x%llx\"}",
			       trapno == 0 ? "sigreturn" : "return", code, trapno, (unsigned long long)addr);
		} else if (WIFSIGNALED(st))
			printf("\"outcome\": \"signal\", \"signal\": %d}", WTERMSIG(st));
		else
			printf("\"outcome\": \"exit\", \"status\": %d}", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
}

int main(int argc, char **argv)
{
	/* sigreturn [IMAGE]: with a file holding another frame's XSAVE image, the "transplant" edit too. */
	if (argc > 1) {
		FILE *f = fopen(argv[1], "rb");
		if (!f) {
			fprintf(stderr, "sigreturn: %s: cannot open\n", argv[1]);
			return 2;
		}
		transplant_len = fread(transplant, 1, sizeof transplant, f);
		fclose(f);
	}
	uint32_t lo, hi, a, b, c, d;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	xcr0 = ((uint64_t)hi << 32) | lo;
	if (!(xcr0 & 4)) {
		printf("{\"format\": \"sigframe-sigreturn/2\", \"error\": \"no AVX: ymm0 cannot show the outcome\"}\n");
		return 0;
	}
	__cpuid_count(0xd, 2, a, b, c, d);
	ymm_offset = b;
	for (foreign_bit = 2; foreign_bit < 62 && (xcr0 >> foreign_bit) & 1; foreign_bit++)
		;
	/* The CPU's MXCSR_MASK, from an FXSAVE image of a zeroed buffer (SDM Vol. 1 §11.6.6). */
	unsigned char fx[512] __attribute__((aligned(16)));
	memset(fx, 0, sizeof fx);
	__asm__ volatile("fxsave %0" : "=m"(fx));
	char brand[49] = "";
	__cpuid(0x80000000, a, b, c, d);
	if (a >= 0x80000004) {
		for (unsigned l = 0; l < 3; l++) {
			__cpuid(0x80000002 + l, a, b, c, d);
			memcpy(brand + 16 * l, &a, 4), memcpy(brand + 16 * l + 4, &b, 4);
			memcpy(brand + 16 * l + 8, &c, 4), memcpy(brand + 16 * l + 12, &d, 4);
		}
		for (int i = 0; brand[i]; i++)
			if (brand[i] < 0x20 || brand[i] > 0x7e || brand[i] == '"' || brand[i] == '\\')
				brand[i] = '?';
	}
	struct utsname u;
	if (uname(&u) != 0)
		strcpy(u.release, "unknown");
	printf("{\n  \"format\": \"sigframe-sigreturn/2\",\n  \"release\": \"%s\",\n  \"cpu\": \"%s\",\n"
	       "  \"xcr0\": \"0x%llx\",\n  \"mxcsr_mask\": \"0x%x\",\n  \"foreign_bit\": %u,\n  \"results\": [",
	       u.release, brand, (unsigned long long)xcr0, get32(fx + FX_MXCSR_MASK), foreign_bit);
	shared_frame = mmap(NULL, 16 + 2 * MAX_FRAME, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared_frame == MAP_FAILED)
		return 1;
	int first = 1;
#ifdef __x86_64__
	int printed = 0, printed_amx = 0;
	run(K64, "x86_64", &first, &printed);
	if (sf_amx_offered()) {
		__cpuid_count(0xd, 17, a, b, c, d);
		tilecfg_offset = b;
		__cpuid_count(0xd, 18, a, b, c, d);
		tiledata_offset = b;
		run(K64 | KAMX, "x86_64", &first, &printed_amx);
	}
	int printed_xpl = 0;
	if (transplant_len)
		run(KXPL, "x86_64", &first, &printed_xpl);
#else
	int printed_rt = 0, printed_legacy = 0;
	run(KRT, "ia32-rt", &first, &printed_rt);
	run(KLEGACY, "ia32", &first, &printed_legacy);
#endif
	printf("\n  ]\n}\n");
	return 0;
}
