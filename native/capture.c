/*
 * sigframe capture: real signal frames from the running kernel, byte for byte.
 *
 * For each scenario a child process sets known register patterns (GPRs, vector registers, mask
 * registers) in an assembly trampoline, raises a signal and, in the handler, copies the bytes from
 * the frame start (the handler's entry stack pointer) up to the stack top. It does this twice,
 * with the stack pre-filled with 0xa5 and then with 0x5a: a byte the kernel wrote is the same in
 * both runs, a byte it left alone shows the fill. Output, per scenario, in the directory given:
 * NAME.bin (the first run's bytes) and NAME.json (addresses, top, patterns, unwritten ranges).
 *
 * Scenarios: SIGUSR1 with live vector state (AVX-512 where the CPU has it); SIGUSR1 after XRSTOR
 * put the AVX/AVX-512 components into INIT; SIGSEGV on a load from a fixed address; SIGUSR1 on
 * the normal stack (red zone); an alt stack registered SS_ONSTACK|SS_AUTODISARM; nested frames —
 * a SIGUSR2 raised from the SIGUSR1 handler, captured below it, with and without SS_AUTODISARM
 * (which disarms the alt stack while the first handler runs); and, in a 32-bit build, ia32 rt and
 * legacy frames; SIGUSR1 with four x87 registers in use (a valid, a zero and a special tag), for
 * the tag words of the image and of ia32's FSAVE header; where the CPU and kernel offer AMX, SIGUSR1 with all eight tiles loaded (after
 * ARCH_REQ_XCOMP_PERM) and after TILERELEASE put them back into INIT. A nested capture ends at the
 * interrupted sp, which it records.
 * Usage: capture OUTDIR
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "amx.h"

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31) /* linux/signal.h; glibc's <signal.h> lacks it before 2.41 */
#endif
#define REGION (64 * 1024)
#define FAULT_ADDR 0x10

/* The trampoline's input. Offsets are fixed: the assembly below reads them. */
#ifdef __x86_64__
struct trig {
	uint64_t sp;        /* 0: switch to this stack first (0: stay) */
	uint64_t mode;      /* 8: 0 kill(pid, sig), 1 load from fault */
	uint64_t pid;       /* 16 */
	uint64_t sig;       /* 24 */
	uint64_t fault;     /* 32 */
	uint64_t gpr[8];    /* 40: rbx rbp r8 r9 r12 r13 r14 r15 */
	uint64_t vec_mode;  /* 104: 0 none, 1 xmm0-15, 2 ymm0-15, 3 zmm0-31 + k0-7 */
	uint64_t init_mask; /* 112: XRSTOR these components from INIT before the signal */
	uint64_t init_area; /* 120: 64-aligned XSAVE area with a zero header */
	uint8_t vec[32][64]; /* 128 */
	uint64_t k[8];      /* 2176 */
};
static const char *gpr_names[8] = { "bx", "bp", "r8", "r9", "r12", "r13", "r14", "r15" };
#define NGPR 8
#define NVEC 32
__asm__(".text\n.globl sf_trigger\nsf_trigger:\n"
	"\tmov 104(%rdi), %rax\n"
	"\tcmp $3, %rax\n\tjne 1f\n"
	"vmovdqu64 128(%rdi), %zmm0\n"
	"vmovdqu64 192(%rdi), %zmm1\n"
	"vmovdqu64 256(%rdi), %zmm2\n"
	"vmovdqu64 320(%rdi), %zmm3\n"
	"vmovdqu64 384(%rdi), %zmm4\n"
	"vmovdqu64 448(%rdi), %zmm5\n"
	"vmovdqu64 512(%rdi), %zmm6\n"
	"vmovdqu64 576(%rdi), %zmm7\n"
	"vmovdqu64 640(%rdi), %zmm8\n"
	"vmovdqu64 704(%rdi), %zmm9\n"
	"vmovdqu64 768(%rdi), %zmm10\n"
	"vmovdqu64 832(%rdi), %zmm11\n"
	"vmovdqu64 896(%rdi), %zmm12\n"
	"vmovdqu64 960(%rdi), %zmm13\n"
	"vmovdqu64 1024(%rdi), %zmm14\n"
	"vmovdqu64 1088(%rdi), %zmm15\n"
	"vmovdqu64 1152(%rdi), %zmm16\n"
	"vmovdqu64 1216(%rdi), %zmm17\n"
	"vmovdqu64 1280(%rdi), %zmm18\n"
	"vmovdqu64 1344(%rdi), %zmm19\n"
	"vmovdqu64 1408(%rdi), %zmm20\n"
	"vmovdqu64 1472(%rdi), %zmm21\n"
	"vmovdqu64 1536(%rdi), %zmm22\n"
	"vmovdqu64 1600(%rdi), %zmm23\n"
	"vmovdqu64 1664(%rdi), %zmm24\n"
	"vmovdqu64 1728(%rdi), %zmm25\n"
	"vmovdqu64 1792(%rdi), %zmm26\n"
	"vmovdqu64 1856(%rdi), %zmm27\n"
	"vmovdqu64 1920(%rdi), %zmm28\n"
	"vmovdqu64 1984(%rdi), %zmm29\n"
	"vmovdqu64 2048(%rdi), %zmm30\n"
	"vmovdqu64 2112(%rdi), %zmm31\n"
	"kmovq 2176(%rdi), %k0\n"
	"kmovq 2184(%rdi), %k1\n"
	"kmovq 2192(%rdi), %k2\n"
	"kmovq 2200(%rdi), %k3\n"
	"kmovq 2208(%rdi), %k4\n"
	"kmovq 2216(%rdi), %k5\n"
	"kmovq 2224(%rdi), %k6\n"
	"kmovq 2232(%rdi), %k7\n"
	"\tjmp 3f\n"
	"1:\tcmp $2, %rax\n\tjne 2f\n"
	"vmovdqu 128(%rdi), %ymm0\n"
	"vmovdqu 192(%rdi), %ymm1\n"
	"vmovdqu 256(%rdi), %ymm2\n"
	"vmovdqu 320(%rdi), %ymm3\n"
	"vmovdqu 384(%rdi), %ymm4\n"
	"vmovdqu 448(%rdi), %ymm5\n"
	"vmovdqu 512(%rdi), %ymm6\n"
	"vmovdqu 576(%rdi), %ymm7\n"
	"vmovdqu 640(%rdi), %ymm8\n"
	"vmovdqu 704(%rdi), %ymm9\n"
	"vmovdqu 768(%rdi), %ymm10\n"
	"vmovdqu 832(%rdi), %ymm11\n"
	"vmovdqu 896(%rdi), %ymm12\n"
	"vmovdqu 960(%rdi), %ymm13\n"
	"vmovdqu 1024(%rdi), %ymm14\n"
	"vmovdqu 1088(%rdi), %ymm15\n"
	"\tjmp 3f\n"
	"2:\tcmp $1, %rax\n\tjne 3f\n"
	"movdqu 128(%rdi), %xmm0\n"
	"movdqu 192(%rdi), %xmm1\n"
	"movdqu 256(%rdi), %xmm2\n"
	"movdqu 320(%rdi), %xmm3\n"
	"movdqu 384(%rdi), %xmm4\n"
	"movdqu 448(%rdi), %xmm5\n"
	"movdqu 512(%rdi), %xmm6\n"
	"movdqu 576(%rdi), %xmm7\n"
	"movdqu 640(%rdi), %xmm8\n"
	"movdqu 704(%rdi), %xmm9\n"
	"movdqu 768(%rdi), %xmm10\n"
	"movdqu 832(%rdi), %xmm11\n"
	"movdqu 896(%rdi), %xmm12\n"
	"movdqu 960(%rdi), %xmm13\n"
	"movdqu 1024(%rdi), %xmm14\n"
	"movdqu 1088(%rdi), %xmm15\n"
	"3:\tmov 112(%rdi), %rax\n\ttest %rax, %rax\n\tjz 4f\n"
	"\tmov 120(%rdi), %rcx\n\txor %edx, %edx\n\txrstor (%rcx)\n"
	"4:\tmov 0(%rdi), %rax\n\ttest %rax, %rax\n\tjz 5f\n\tmov %rax, %rsp\n"
	"5:\tmov 40(%rdi), %rbx\n\tmov 48(%rdi), %rbp\n\tmov 56(%rdi), %r8\n\tmov 64(%rdi), %r9\n"
	"\tmov 72(%rdi), %r12\n\tmov 80(%rdi), %r13\n\tmov 88(%rdi), %r14\n\tmov 96(%rdi), %r15\n"
	"\tcmpq $0, 8(%rdi)\n\tjne 6f\n"
	"\tmov 24(%rdi), %rsi\n\tmov 16(%rdi), %rdi\n\tmov $62, %eax\n\tsyscall\n\tud2\n"
	"6:\tmov 32(%rdi), %rax\n\tmov (%rax), %rax\n\tud2\n");
__asm__(".text\n.globl sf_entry\nsf_entry:\n\tmovq %rsp, entry_sp(%rip)\n\tjmp handler_c\n");
#else
struct trig {
	uint32_t sp;       /* 0 */
	uint32_t mode;     /* 4 */
	uint32_t pid;      /* 8 */
	uint32_t sig;      /* 12 */
	uint32_t fault;    /* 16 */
	uint32_t gpr[4];   /* 20: ebp esi edi edx */
	uint32_t vec_mode; /* 36: 0 none, 1 xmm0-7 */
	uint32_t init_mask; /* 40: unused */
	uint32_t init_area; /* 44 */
	uint32_t pad[4];   /* 48 */
	uint8_t vec[8][16]; /* 64 */
	uint64_t k[8];
};
static const char *gpr_names[4] = { "bp", "si", "di", "dx" };
#define NGPR 4
#define NVEC 8
__asm__(".text\n.globl sf_trigger\nsf_trigger:\n"
	"\tmov 4(%esp), %eax\n"
	"\tcmpl $0, 36(%eax)\n\tje 1f\n"
	"movdqu 64(%eax), %xmm0\n"
	"movdqu 80(%eax), %xmm1\n"
	"movdqu 96(%eax), %xmm2\n"
	"movdqu 112(%eax), %xmm3\n"
	"movdqu 128(%eax), %xmm4\n"
	"movdqu 144(%eax), %xmm5\n"
	"movdqu 160(%eax), %xmm6\n"
	"movdqu 176(%eax), %xmm7\n"
	"1:\tmov 0(%eax), %ecx\n\ttest %ecx, %ecx\n\tjz 2f\n\tmov %ecx, %esp\n"
	"2:\tmov 20(%eax), %ebp\n\tmov 24(%eax), %esi\n\tmov 28(%eax), %edi\n\tmov 32(%eax), %edx\n"
	"\tcmpl $0, 4(%eax)\n\tjne 3f\n"
	"\tmov 8(%eax), %ebx\n\tmov 12(%eax), %ecx\n\tmov $37, %eax\n\tint $0x80\n\tud2\n"
	"3:\tmov 16(%eax), %eax\n\tmov (%eax), %eax\n\tud2\n");
__asm__(".text\n.globl sf_entry\nsf_entry:\n\tmovl %esp, entry_sp\n\tjmp handler_c\n");
#endif

#ifdef __x86_64__
static unsigned char tilecfg[64] __attribute__((aligned(64)));
static unsigned char tiles[8][1024] __attribute__((aligned(64)));

/* Called right before the trampoline: nothing in between touches tile state. */
static void load_tiles(int release)
{
	sf_tiles_load(tilecfg, (const unsigned char (*)[1024])tiles);
	if (release)
		__asm__ volatile("tilerelease" ::: "memory");
}
#endif

/*
 * Four x87 registers in use, one of each tag class but empty: ST0 +inf (special), ST1 pi and ST3
 * 1.0 (valid), ST2 +0 (zero). Loaded right before the trampoline, which leaves x87 alone; the
 * values as FSTP stores them (ST0 first) are what the frame must hold.
 */
#define X87_LOADED 4
static const double x87_inf = __builtin_inf();
static unsigned char x87_st[X87_LOADED][10];
static void load_x87(void)
{
	__asm__ volatile("fninit\nfld1\nfldz\nfldpi\nfldl %0\n" ::"m"(x87_inf));
}
static void read_x87(void)
{
	load_x87();
	__asm__ volatile("fstpt %0\nfstpt %1\nfstpt %2\nfstpt %3\n"
			 : "=m"(x87_st[0]), "=m"(x87_st[1]), "=m"(x87_st[2]), "=m"(x87_st[3]));
}

void sf_trigger(struct trig *t);
void sf_entry(int, siginfo_t *, void *);
uintptr_t entry_sp;
void handler_c(int sig, siginfo_t *si, void *uc);

static unsigned char region[REGION] __attribute__((aligned(4096)));
static unsigned char copies[2][REGION];
static uintptr_t frames[2], ends[2], interrupted[2];
static uintptr_t top;
static int run, nested, legacy;
static sigjmp_buf jb;

#ifdef __x86_64__
#define SP_REG REG_RSP
#else
#define SP_REG REG_ESP
#endif

void handler_c(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	uintptr_t f = entry_sp;
	/* A nested frame's region ends at the interrupted sp (the red zone below it included). */
	uintptr_t sp = 0;
	if (nested) {
#ifdef __x86_64__
		sp = (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[SP_REG];
#else
		/* A legacy handler has no ucontext: its sigcontext follows pretcode and the signal number. */
		sp = legacy ? ((struct sigcontext *)(f + 8))->esp : (uintptr_t)((ucontext_t *)ucv)->uc_mcontext.gregs[SP_REG];
#endif
	}
	uintptr_t end = nested ? sp : top;
	frames[run] = f;
	ends[run] = end;
	interrupted[run] = sp;
	if (f < end && end - f <= REGION)
		memcpy(copies[run], (void *)f, end - f);
	siglongjmp(jb, 1);
}

/*
 * The first handler of a nested scenario: raises the captured signal from inside itself with a
 * raw kill(), its flags fixed first (CMP defines all six) so both runs see the same frame. Written
 * in assembly so that nothing — no call, no PIC thunk — leaves stack residue below its sp, which
 * would look like bytes the kernel wrote.
 */
long self_pid;
void outer_handler(int, siginfo_t *, void *);
#ifdef __x86_64__
__asm__(".text\n.globl outer_handler\nouter_handler:\n"
	"\tmov self_pid(%rip), %rdi\n\tmov $12, %esi\n\tmov $62, %eax\n"
	"\tcmp %rax, %rax\n\tsyscall\n\tret\n");
#else
__asm__(".text\n.globl outer_handler\nouter_handler:\n"
	"\tpush %ebx\n\tmov self_pid, %ebx\n\tmov $12, %ecx\n\tmov $37, %eax\n"
	"\tcmp %eax, %eax\n\tint $0x80\n\tpop %ebx\n\tret\n");
#endif

struct scenario {
	const char *name;
	const char *kind;
	int sig;
	int siginfo;
	int altstack;
	int mode;
	int vec_mode;
	uint64_t init_mask;
	unsigned top_residue;
	/* sigaltstack() flags: 0, or SS_ONSTACK | SS_AUTODISARM. */
	int ss_flags;
	/* The signal's handler raises SIGUSR2, whose frame is the one captured. */
	int nested;
	/* 1: the eight tiles loaded with patterns; 2: loaded, then TILERELEASE (back to INIT). */
	int amx;
	/* x87 registers in use (load_x87). */
	int x87;
};

static uint64_t pattern64(unsigned i)
{
	return 0x1111111111111111ull * ((i % 15) + 1) ^ ((uint64_t)i << 56) ^ 0x0123456789abcdefull;
}

static void hex(FILE *f, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static int capture(const char *dir, const struct scenario *s, uint64_t xcr0)
{
	static struct trig t __attribute__((aligned(64)));
	static unsigned char xarea[4096] __attribute__((aligned(64)));
	memset(&t, 0, sizeof t);
	memset(xarea, 0, sizeof xarea);
	/* MXCSR is loaded whenever YMM is in the XRSTOR mask: keep its power-on value 0x1f80. */
	xarea[24] = 0x80;
	xarea[25] = 0x1f;
	for (unsigned i = 0; i < NGPR; i++)
		t.gpr[i] = (uintptr_t)pattern64(i);
	for (unsigned i = 0; i < NVEC; i++)
		for (unsigned j = 0; j < sizeof t.vec[0]; j++)
			t.vec[i][j] = (unsigned char)(i * 16 + j * 3 + 0x21);
	for (unsigned i = 0; i < 8; i++)
		t.k[i] = pattern64(i + 8);
	t.vec_mode = s->vec_mode;
	t.init_mask = s->init_mask & xcr0;
	if (s->x87)
		read_x87();
#ifdef __x86_64__
	if (s->amx) {
		if (sf_amx_request() != 0)
			return -4;
		sf_tiles_config(tilecfg);
		for (unsigned i = 0; i < 8; i++)
			for (unsigned j = 0; j < sizeof tiles[0]; j++)
				tiles[i][j] = (unsigned char)(i * 37 + j * 5 + 0x13);
	}
#endif
	t.init_area = (uintptr_t)xarea;
	t.pid = getpid();
	t.sig = s->sig;
	t.mode = s->mode;
	t.fault = FAULT_ADDR;
	top = (uintptr_t)region + REGION - 4096 + s->top_residue;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = (s->siginfo ? SA_SIGINFO : 0) | (s->altstack ? SA_ONSTACK : 0) | SA_NODEFER;
	sa.sa_sigaction = sf_entry;
	nested = s->nested;
	legacy = !s->siginfo;
	self_pid = getpid();
	if (sigaction(s->nested ? SIGUSR2 : s->sig, &sa, NULL) != 0)
		return -1;
	if (s->nested) {
		sa.sa_sigaction = outer_handler;
		if (sigaction(s->sig, &sa, NULL) != 0)
			return -1;
	}
	stack_t ss = { .ss_sp = region, .ss_size = top - (uintptr_t)region, .ss_flags = s->ss_flags };
	stack_t off = { .ss_flags = SS_DISABLE };
	/* The trampoline switches to `top` itself when there is no alt stack. */
	t.sp = s->altstack ? 0 : top;

	for (run = 0; run < 2; run++) {
		/* Again for each run: leaving the handler by siglongjmp() does not re-arm an alt stack
		 * SS_AUTODISARM disarmed (only rt_sigreturn's restore_altstack() would). */
		if (sigaltstack(s->altstack ? &ss : &off, NULL) != 0)
			return -1;
		memset(region, run ? 0x5a : 0xa5, sizeof region - 4096 + s->top_residue);
		if (sigsetjmp(jb, 1) == 0) {
			if (s->x87)
				load_x87();
#ifdef __x86_64__
			if (s->amx)
				load_tiles(s->amx == 2);
#endif
			sf_trigger(&t);
		}
	}
	if (frames[0] != frames[1] || ends[0] != ends[1] || frames[0] >= ends[0])
		return -2;
	size_t n = ends[0] - frames[0];

	char path[4096];
	snprintf(path, sizeof path, "%s/%s.bin", dir, s->name);
	FILE *b = fopen(path, "wb");
	if (!b || fwrite(copies[0], 1, n, b) != n || fclose(b) != 0)
		return -3;
	snprintf(path, sizeof path, "%s/%s.json", dir, s->name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -3;
	struct utsname u;
	uname(&u);
	fprintf(f, "{\n  \"format\": \"sigframe-capture/1\",\n  \"scenario\": \"%s\",\n  \"kind\": \"%s\",\n", s->name, s->kind);
	fprintf(f, "  \"release\": \"%s\",\n  \"bin\": \"%s.bin\",\n", u.release, s->name);
	fprintf(f, "  \"address\": \"0x%llx\",\n  \"top\": \"0x%llx\",\n", (unsigned long long)frames[0], (unsigned long long)ends[0]);
	/* The alt stack as the kernel saw it at this delivery: SS_AUTODISARM took it away from a
	 * signal nested in the first handler. */
	int armed = s->altstack && !(s->nested && (s->ss_flags & SS_AUTODISARM));
	if (armed)
		fprintf(f, "  \"altstack\": {\"sp\": \"0x%llx\", \"size\": %zu, \"flags\": %u},\n", (unsigned long long)(uintptr_t)region,
			(size_t)(top - (uintptr_t)region), (unsigned)s->ss_flags);
	else
		fprintf(f, "  \"altstack\": null,\n");
	if (!s->altstack || s->nested)
		fprintf(f, "  \"sp\": \"0x%llx\",\n", (unsigned long long)(s->nested ? interrupted[0] : top));
	fprintf(f, "  \"signal\": %d,\n  \"siginfo\": %s,\n", s->nested ? SIGUSR2 : s->sig, s->siginfo ? "true" : "false");
	if (s->mode == 1)
		fprintf(f, "  \"fault_address\": \"0x%x\",\n", FAULT_ADDR);
	/* init_mask: what the helper put into INIT — by XRSTOR from INIT, or tiles by TILERELEASE. */
	uint64_t init_mask = t.init_mask | (s->amx == 2 ? XTILE_MASK : 0);
	fprintf(f, "  \"xcr0\": \"0x%llx\",\n  \"init_mask\": \"0x%llx\",\n", (unsigned long long)xcr0, (unsigned long long)init_mask);
	fprintf(f, "  \"patterns\": {\n    \"gpr\": {");
	/* A nested frame holds the first handler's registers, not the trampoline's patterns. */
	for (unsigned i = 0; !s->nested && i < NGPR; i++)
		fprintf(f, "%s\"%s\": \"0x%llx\"", i ? ", " : "", gpr_names[i], (unsigned long long)t.gpr[i]);
	int vw = s->nested ? 0 : s->vec_mode == 3 ? 64 : s->vec_mode == 2 ? 32 : s->vec_mode == 1 ? 16 : 0;
	fprintf(f, "},\n    \"vector_width\": %d,\n    \"vectors\": [", vw);
	unsigned nv = vw == 0 ? 0 : s->vec_mode == 3 ? 32 : s->vec_mode ? NVEC < 16 ? NVEC : 16 : 0;
	unsigned w = s->vec_mode == 3 ? 64 : s->vec_mode == 2 ? 32 : 16;
	for (unsigned i = 0; i < nv; i++) {
		fprintf(f, "%s\n      \"", i ? "," : "");
		hex(f, t.vec[i], w);
		fprintf(f, "\"");
	}
	fprintf(f, "],\n    \"k\": [");
	for (unsigned i = 0; vw == 64 && i < 8; i++)
		fprintf(f, "%s\"0x%llx\"", i ? ", " : "", (unsigned long long)t.k[i]);
	fprintf(f, "]");
	if (s->x87) {
		fprintf(f, ",\n    \"st\": [");
		for (unsigned i = 0; i < X87_LOADED; i++) {
			fprintf(f, "%s\"", i ? ", " : "");
			hex(f, x87_st[i], sizeof x87_st[i]);
			fprintf(f, "\"");
		}
		fprintf(f, "]");
	}
#ifdef __x86_64__
	if (s->amx == 1) {
		fprintf(f, ",\n    \"tilecfg\": \"");
		hex(f, tilecfg, sizeof tilecfg);
		fprintf(f, "\",\n    \"tmm\": [");
		for (unsigned i = 0; i < 8; i++) {
			fprintf(f, "%s\n      \"", i ? "," : "");
			hex(f, tiles[i], sizeof tiles[i]);
			fprintf(f, "\"");
		}
		fprintf(f, "]");
	}
#endif
	fprintf(f, "\n  },\n  \"unwritten\": [");
	int first = 1;
	for (size_t i = 0; i < n;) {
		if (copies[0][i] == copies[1][i]) {
			i++;
			continue;
		}
		size_t j = i;
		while (j < n && copies[0][j] != copies[1][j])
			j++;
		fprintf(f, "%s[%zu, %zu]", first ? "" : ", ", i, j);
		first = 0;
		i = j;
	}
	fprintf(f, "]\n}\n");
	return fclose(f) == 0 ? 0 : -3;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: capture OUTDIR\n");
		return 2;
	}
	unsigned a, b, c, d;
	int avx = 0, avx512 = 0;
	uint64_t xcr0 = 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c >> 27) & 1) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		xcr0 = ((uint64_t)hi << 32) | lo;
		avx = (c >> 28) & 1 && (xcr0 & 6) == 6;
	}
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		avx512 = (b >> 16) & 1 && (b >> 30) & 1 && (xcr0 & 0xe6) == 0xe6; /* AVX512F, AVX512BW */
	int vec = avx512 ? 3 : avx ? 2 : 1;
	const uint64_t avx_state = (1ull << 2) | (7ull << 5);
#ifdef __x86_64__
	struct scenario list[] = {
		{ "x86_64-sigusr1-vectors", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0 },
		{ "x86_64-sigusr1-avx-init", "x86_64", SIGUSR1, 1, 1, 0, 1, avx_state, 0 },
		{ "x86_64-sigsegv-fault", "x86_64", SIGSEGV, 1, 1, 1, vec, 0, 40 },
		{ "x86_64-normal-stack", "x86_64", SIGUSR1, 1, 0, 0, vec, 0, 24 },
		{ "x86_64-autodisarm", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, SS_ONSTACK | SS_AUTODISARM },
		{ "x86_64-nested", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, 0, 1 },
		{ "x86_64-nested-autodisarm", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, SS_ONSTACK | SS_AUTODISARM, 1 },
		{ "x86_64-sigusr1-x87", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, 0, 0, 0, 1 },
		{ "x86_64-amx-tiles", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, 0, 0, 1 },
		{ "x86_64-amx-tiles-init", "x86_64", SIGUSR1, 1, 1, 0, vec, 0, 0, 0, 0, 2 },
	};
	int amx = sf_amx_offered();
#else
	(void)vec;
	(void)avx_state;
	struct scenario list[] = {
		{ "ia32-rt-sigusr1", "ia32-rt", SIGUSR1, 1, 1, 0, 1, 0, 0 },
		{ "ia32-legacy-sigusr1", "ia32", SIGUSR1, 0, 1, 0, 1, 0, 12 },
		{ "ia32-rt-sigsegv-fault", "ia32-rt", SIGSEGV, 1, 1, 1, 1, 0, 0 },
		{ "ia32-rt-nested-autodisarm", "ia32-rt", SIGUSR1, 1, 1, 0, 1, 0, 0, SS_ONSTACK | SS_AUTODISARM, 1 },
		{ "ia32-legacy-nested", "ia32", SIGUSR1, 0, 1, 0, 1, 0, 12, 0, 1 },
		{ "ia32-rt-sigusr1-x87", "ia32-rt", SIGUSR1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 1 },
		{ "ia32-legacy-sigusr1-x87", "ia32", SIGUSR1, 0, 1, 0, 1, 0, 12, 0, 0, 0, 1 },
	};
#endif
	int status = 0;
	int printed = 0;
	for (unsigned i = 0; i < sizeof list / sizeof list[0]; i++) {
#ifdef __x86_64__
		if (list[i].amx && !amx)
			continue;
#endif
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(capture(argv[1], &list[i], xcr0) == 0 ? 0 : 1);
		int st;
		waitpid(pid, &st, 0);
		int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		printf("%s%s", printed++ ? " " : "", list[i].name);
		if (!ok) {
			printf("(failed)");
			status = 1;
		}
	}
	printf("\n");
	return status;
}
