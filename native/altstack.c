/*
 * sigframe alt-stack experiments: what the running kernel does, found by trying, so tests can
 * hold sigframe's model to it. Built for -m64 and (where the toolchain allows) -m32 by the tests
 * and `sigframe size --measure`; prints one JSON object.
 *
 *  - delivery: for a fixed alt-stack top (a page boundary plus a residue), the smallest ss_size
 *    on which a signal is delivered — one child process per try, since a failed delivery kills
 *    the child with SIGSEGV — and where the frame started (the handler's entry stack pointer);
 *  - sigaltstack: the smallest ss_size sigaltstack() accepts, and errno just below it;
 *  - sw_reserved: what the kernel wrote into the frame's _fpx_sw_bytes and XSTATE_BV;
 *  - amx (64-bit, when the kernel offers AMX): ARCH_REQ_XCOMP_PERM, the sigaltstack() threshold
 *    once permitted, the smallest existing alt stack that does not make the request fail with
 *    ENOSPC, and frames of a thread before and after it executed a tile instruction.
 *
 * Nothing here reads sigframe's model: sizes come from the kernel's answers and the stack
 * pointer the CPU had on handler entry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "amx.h"
#include "fpframe.h"

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51
#endif

#define REGION (256 * 1024)
#define PAGE 4096

/* Filled in by the child's handler, read by the parent. */
struct result {
	uintptr_t entry_sp;
	uint32_t magic1, extended_size, xstate_size;
	uint64_t xfeatures, xstate_bv;
	int has_fp;
};
static volatile struct result *shared;
static char *region;

/* The handler's first instruction records the stack pointer the kernel handed it: the frame. */
uintptr_t entry_sp;
void handler_c(int sig, siginfo_t *si, void *uc);
#ifdef __x86_64__
__asm__(".text\n.globl sf_entry\nsf_entry:\n\tmovq %rsp, entry_sp(%rip)\n\tjmp handler_c\n");
#else
__asm__(".text\n.globl sf_entry\nsf_entry:\n\tmovl %esp, entry_sp\n\tjmp handler_c\n");
#endif
void sf_entry(int, siginfo_t *, void *);

void handler_c(int sig, siginfo_t *si, void *ucv)
{
	struct result r = { .entry_sp = entry_sp };
	(void)sig;
	(void)si;
	if (ucv) {
		ucontext_t *uc = ucv;
		unsigned char *fx = (unsigned char *)uc->uc_mcontext.fpregs;
		if (fx) {
			fx += FX_IMAGE;
			r.has_fp = 1;
			memcpy(&r.magic1, fx + FX_SW_MAGIC1, 4);
			memcpy(&r.extended_size, fx + FX_SW_EXTENDED_SIZE, 4);
			memcpy(&r.xfeatures, fx + FX_SW_XFEATURES, 8);
			memcpy(&r.xstate_size, fx + FX_SW_XSTATE_SIZE, 4);
			memcpy(&r.xstate_bv, fx + FX_HDR_XSTATE_BV, 8);
		}
	}
	memcpy((void *)shared, &r, sizeof r);
	_exit(0);
}

static int install(int siginfo)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_ONSTACK | (siginfo ? SA_SIGINFO : 0);
	sa.sa_sigaction = sf_entry;
	return sigaction(SIGUSR1, &sa, NULL);
}

static int set_altstack(uintptr_t top, size_t size)
{
	stack_t ss = { .ss_sp = (void *)(top - size), .ss_size = size, .ss_flags = 0 };
	return sigaltstack(&ss, NULL);
}

#ifdef __x86_64__
static long req_perm(void)
{
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
}

/* Palette 1, tile 0 = 16 rows × 64 bytes: enough to make TILECFG and TILEDATA non-INIT. */
static void use_tiles(void)
{
	unsigned char cfg[64] __attribute__((aligned(64)));
	memset(cfg, 0, sizeof cfg);
	cfg[0] = 1;
	cfg[16] = 64;
	cfg[48] = 16;
	__asm__ volatile(".byte 0xc4,0xe2,0x78,0x49,0x00" ::"a"(cfg) : "memory"); /* ldtilecfg (%rax) */
	__asm__ volatile(".byte 0xc4,0xe2,0x7b,0x49,0xc0" ::: "memory");           /* tilezero %tmm0 */
}

static void release_tiles(void)
{
	__asm__ volatile(".byte 0xc4,0xe2,0x78,0x49,0xc0" ::: "memory"); /* tilerelease */
}
#endif

enum amx { AMX_NONE, AMX_PERMITTED, AMX_USED, AMX_USED_RELEASED };

/* Delivers SIGUSR1 in a child on an alt stack [top - size, top): 1 delivered, 0 killed, -1 setup. */
static int try_delivery(uintptr_t top, size_t size, int siginfo, enum amx amx)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
#ifdef __x86_64__
		if (amx != AMX_NONE && req_perm() != 0)
			_exit(3);
		if (amx == AMX_USED || amx == AMX_USED_RELEASED)
			use_tiles();
		if (amx == AMX_USED_RELEASED)
			release_tiles();
#endif
		if (install(siginfo) != 0 || set_altstack(top, size) != 0)
			_exit(2);
		raise(SIGUSR1);
		_exit(4); /* not reached: the handler exits */
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV)
		return 0;
	return -1 - (WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st));
}

static void print_result(const char *indent)
{
	printf("%s\"has_fp\": %d, \"magic1\": \"0x%x\", \"extended_size\": %u, \"xstate_size\": %u, "
	       "\"xfeatures\": \"0x%llx\", \"xstate_bv\": \"0x%llx\"",
	       indent, shared->has_fp, shared->magic1, shared->extended_size, shared->xstate_size,
	       (unsigned long long)shared->xfeatures, (unsigned long long)shared->xstate_bv);
}

/* Smallest size in [lo, hi] for which ok(size) holds, assuming ok is monotonic; hi+1 if none. */
#define SEARCH(lo, hi, ok_expr, out)                              \
	do {                                                      \
		size_t a_ = (lo), b_ = (hi) + 1;                  \
		while (a_ < b_) {                                 \
			size_t size = a_ + (b_ - a_) / 2;         \
			if (ok_expr)                              \
				b_ = size;                        \
			else                                      \
				a_ = size + 1;                    \
		}                                                 \
		(out) = a_;                                       \
	} while (0)

/* The smallest ss_size sigaltstack() accepts for a top at `top`, and its errno one byte below. */
static size_t min_accepted(uintptr_t top, int *errno_below)
{
	size_t min;
	SEARCH(1, 64 * 1024, set_altstack(top, size) == 0, min);
	errno = 0;
	*errno_below = set_altstack(top, min - 1) == 0 ? 0 : errno;
	return min;
}

static void delivery(const char *kind, int siginfo, unsigned residue, int first)
{
	uintptr_t top = (uintptr_t)region + REGION / 2 + residue;
	size_t min;
	int bad = 0;
	/* Below MINSIGSTKSZ sigaltstack() itself refuses; the search starts there. */
	SEARCH(2048, 64 * 1024, ({
		       int r = try_delivery(top, size, siginfo, AMX_NONE);
		       if (r < 0)
			       bad = r;
		       r > 0;
	       }),
	       min);
	/* Where the frame went, on a roomy stack with the same top. */
	int r = try_delivery(top, 64 * 1024, siginfo, AMX_NONE);
	printf("%s\n    {\"kind\": \"%s\", \"top_residue\": %u, \"min_ss_size\": %zu, \"delivered_at_min\": %d, "
	       "\"frame_below_top\": %ld, \"error\": %d, ",
	       first ? "" : ",", kind, residue, min, r, (long)(top - shared->entry_sp), bad);
	print_result("");
	printf("}");
}

int main(void)
{
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || region == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* The page-aligned region keeps `top` at a known residue; the handler runs below ss_sp. */
	static const unsigned residues[] = { 0, 4, 8, 12, 16, 24, 32, 40, 48, 56, 60 };
	const int nres = sizeof residues / sizeof residues[0];

	struct utsname u;
	printf("{\n  \"format\": \"sigframe-altstack/1\",\n");
	if (uname(&u) == 0)
		printf("  \"release\": \"%s\",\n", u.release);
#ifdef __x86_64__
	printf("  \"abi\": \"x86_64\",\n");
#else
	printf("  \"abi\": \"ia32\",\n");
#endif
	errno = 0;
	unsigned long at = getauxval(AT_MINSIGSTKSZ);
	if (errno == ENOENT)
		printf("  \"at_minsigstksz\": null,\n");
	else
		printf("  \"at_minsigstksz\": %lu,\n", at);
#ifdef _SC_MINSIGSTKSZ
	printf("  \"glibc\": {\"sc_minsigstksz\": %ld, \"sc_sigstksz\": %ld},\n", sysconf(_SC_MINSIGSTKSZ),
	       sysconf(_SC_SIGSTKSZ));
#endif

	/* sigaltstack() admission without AMX permission. */
	{
		int below;
		size_t min = min_accepted((uintptr_t)region + REGION / 2, &below);
		printf("  \"sigaltstack\": {\"min_accepted\": %zu, \"errno_below\": %d},\n", min, below);
		stack_t off = { .ss_flags = SS_DISABLE };
		sigaltstack(&off, NULL);
	}

	printf("  \"delivery\": [");
	int first = 1;
	for (int i = 0; i < nres; i++) {
#ifdef __x86_64__
		delivery("x86_64", 1, residues[i], first);
#else
		delivery("ia32-rt", 1, residues[i], first);
		first = 0;
		delivery("ia32", 0, residues[i], first);
#endif
		first = 0;
	}
	printf("\n  ]");

#ifdef __x86_64__
	/* AMX: only in a child, since permission is per process and irrevocable. */
	uint64_t perm = 0, supp = 0;
	long pr = syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm);
	int amx = syscall(SYS_arch_prctl, ARCH_GET_XCOMP_SUPP, &supp) == 0 && (supp >> XFEATURE_XTILEDATA) & 1;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		long rc = req_perm();
		printf(",\n  \"amx\": {\"req_perm\": %ld, \"req_errno\": %d", rc, rc ? errno : 0);
		if (rc == 0) {
			int below;
			size_t min = min_accepted((uintptr_t)region + REGION / 2, &below);
			printf(", \"sigaltstack_min_accepted\": %zu, \"sigaltstack_errno_below\": %d", min, below);
		}
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	if (amx && pr == 0 && (perm & (1ull << XFEATURE_XTILEDATA)) == 0) {
		/* ENOSPC threshold: fresh child per try, alt stack set before the request. */
		uintptr_t top = (uintptr_t)region + REGION / 2;
		size_t min;
		SEARCH(2048, 64 * 1024, ({
			       fflush(stdout);
			       pid_t c = fork();
			       if (c == 0)
				       _exit(set_altstack(top, size) != 0 ? 2 : req_perm() == 0 ? 0 : errno == ENOSPC ? 1 : 3);
			       int st;
			       waitpid(c, &st, 0);
			       WIFEXITED(st) && WEXITSTATUS(st) == 0;
		       }),
		       min);
		printf(", \"req_ok_min_ss_size\": %zu", min);
		static const char *names[] = { "none", "permitted", "used", "used_released" };
		printf(", \"frames\": [");
		for (int s = 0; s < 4; s++) {
			for (int i = 0; i < nres; i++) {
				uintptr_t t = (uintptr_t)region + REGION / 2 + residues[i];
				int r = try_delivery(t, 64 * 1024, 1, s);
				printf("%s\n    {\"amx\": \"%s\", \"top_residue\": %u, \"delivered\": %d, \"frame_below_top\": %ld, ",
				       s || i ? "," : "", names[s], residues[i], r, (long)(t - shared->entry_sp));
				print_result("");
				printf("}");
			}
		}
		printf("\n  ]");
	}
	if (pid >= 0)
		printf("}");
#endif
	printf("\n}\n");
	return 0;
}
