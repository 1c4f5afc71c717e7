/*
 * sigframe corecase: a process that dies with a core file whose contents a test can check.
 *
 * Usage: corecase DIR [amx]. With "amx" (x86_64, where the kernel offers AMX) the process first
 * asks for AMX (ARCH_REQ_XCOMP_PERM) and both threads load all eight tiles with patterns of their
 * own before the rest, so the core holds them in the spinning thread's NT_X86_XSTATE and in the
 * SIGUSR1 frame; line 1 then has "tiles": {"cfg", "thread": [tmm0..7], "main": [tmm0..7]}.
 * The process chdir()s to DIR (so a relative core_pattern such as "core"
 * puts the core there), raises its own RLIMIT_CORE soft limit to the hard limit, and then:
 *   - starts one extra thread on a stack of its own (mmap'd between guard pages), which loads a
 *     known pattern into every GPR but rsp/esp and into the vector registers (xmm, ymm or zmm and
 *     k0-7, whichever the CPU and XCR0 allow) and spins in a pause loop that keeps them, so the
 *     core's NT_PRSTATUS / NT_X86_XSTATE notes for that thread hold the patterns;
 *   - registers an alt stack (mmap'd between guard pages, filled with 0xa5), installs a SIGUSR1
 *     handler with SA_ONSTACK|SA_SIGINFO, prints line 1 (below), loads a second pattern in an
 *     assembly trampoline and sends itself SIGUSR1 with a raw tgkill() (si_code SI_TKILL);
 *   - the handler, running on the alt stack, writes line 2 (formatted by hand, with write(2))
 *     and calls abort(): the SIGABRT core holds the SIGUSR1 frame, with the main thread's
 *     patterns in it, on the alt stack, while that handler is still in progress.
 * Output on stdout, two JSON lines:
 *   1. {"format":"sigframe-corecase/1", "abi", "release", "pid", "tids":{main,thread}, "signal",
 *       "si_code", "abort_signal", "xcr0", "vector_mode", "vector_width", "altstack":{sp,size,
 *       flags,fill}, "main":{"tid","resume_ip","gpr","vectors","k"}, "thread":{"tid","sp",
 *       "stack":{base,size}, "spin":{start,end}, "gpr","vectors","k"}}
 *   2. {"handler":{"signal","si_code","si_pid","frame","ucontext","siginfo","fpstate","sp","ip",
 *       "trampoline_sp","handler_sp"}}
 * Addresses and patterns are hex strings; "frame" is the handler's entry sp (pretcode); "sp" and
 * "ip" are the interrupted ones from the ucontext, "trampoline_sp" the sp the trampoline saw.
 * Builds as x86_64 and, with -m32, as i386 (8 vector registers; GPR names are ABI-neutral: ax,
 * bx, ... r15). Needs -pthread.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <ucontext.h>
#include <unistd.h>

#include "amx.h"

#define ALTSTACK_SIZE (64 * 1024)
#define THREAD_STACK_SIZE (128 * 1024)
#define FILL 0xa5

/*
 * The trampolines' input/output. Offsets are fixed (the assembly reads them) and the same for
 * both ABIs; an i386 build uses the low half of each 64-bit field.
 */
struct regs {
	uint64_t sp;        /* 0: out: the trampoline's sp */
	uint64_t ready;     /* 8: out: set once the thread's patterns are loaded */
	uint64_t vec_mode;  /* 16: 0 none, 1 xmm, 2 ymm, 3 zmm + k0-7 */
	uint64_t sig;       /* 24: tgkill(pid, tid, sig) */
	uint64_t tid;       /* 32 */
	uint64_t pid;       /* 40 */
	uint64_t gpr[16];   /* 48: by x86 register number: ax cx dx bx sp bp si di r8..r15 */
	uint8_t vec[32][64] __attribute__((aligned(64))); /* 192 */
	uint64_t k[8];      /* 2240 */
} __attribute__((aligned(64)));

_Static_assert(__builtin_offsetof(struct regs, gpr) == 48, "gpr offset");
_Static_assert(__builtin_offsetof(struct regs, vec) == 192, "vec offset");
_Static_assert(__builtin_offsetof(struct regs, k) == 2240, "k offset");

#ifdef __x86_64__
/* Palette 1, every tile 16 rows × 64 bytes (amx.h); each thread's tiles have their own pattern. */
static unsigned char tilecfg[64] __attribute__((aligned(64)));
static unsigned char main_tiles[8][1024] __attribute__((aligned(64)));
static unsigned char thread_tiles[8][1024] __attribute__((aligned(64)));
static int amx;

static void tile_patterns(unsigned char (*t)[1024], unsigned seed)
{
	for (unsigned i = 0; i < 8; i++)
		for (unsigned j = 0; j < 1024; j++)
			t[i][j] = (unsigned char)(seed + i * 41 + j * 11);
}

/* Called right before a trampoline: nothing between it and the trampoline touches tile state. */
static void load_tiles(unsigned char (*t)[1024])
{
	sf_tiles_load(tilecfg, (const unsigned char (*)[1024])t);
}

static void print_tiles(unsigned char (*t)[1024])
{
	printf("[");
	for (unsigned i = 0; i < 8; i++) {
		printf("%s\"", i ? "," : "");
		for (unsigned j = 0; j < 1024; j++)
			printf("%02x", t[i][j]);
		printf("\"");
	}
	printf("]");
}
#endif

static const char *reg_names[16] = { "ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15" };

#ifdef __x86_64__
#define ABI "x86_64"
#define NVEC_SIMD 16
#define NVEC_ZMM 32
/* Registers each trampoline leaves holding its pattern at the signal / in the spin loop. */
static const int main_regs[] = { 3, 5, 8, 9, 10, 12, 13, 14, 15 };
static const int thread_regs[] = { 0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
__asm__(".text\n"
	".macro SF_LOADVEC\n"
	"\tcmpq $3, 16(%rdi)\n\tjne 1f\n"
	"\t.irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n"
	"\tvmovdqu64 192+64*\\i(%rdi), %zmm\\i\n\t.endr\n"
	"\t.irp i,0,1,2,3,4,5,6,7\n\tkmovq 2240+8*\\i(%rdi), %k\\i\n\t.endr\n"
	"\tjmp 3f\n"
	"1:\tcmpq $2, 16(%rdi)\n\tjne 2f\n"
	"\t.irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\tvmovdqu 192+64*\\i(%rdi), %ymm\\i\n\t.endr\n"
	"\tjmp 3f\n"
	"2:\tcmpq $1, 16(%rdi)\n\tjne 3f\n"
	"\t.irp i,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\tmovdqu 192+64*\\i(%rdi), %xmm\\i\n\t.endr\n"
	"3:\n"
	".endm\n"
	/* The extra thread: patterns everywhere but rsp, then spin forever. */
	".globl sf_thread_entry\nsf_thread_entry:\n"
	"\tmov %rsp, 0(%rdi)\n"
	"\tSF_LOADVEC\n"
	"\tmov 48(%rdi), %rax\n\tmov 56(%rdi), %rcx\n\tmov 64(%rdi), %rdx\n\tmov 72(%rdi), %rbx\n"
	"\tmov 88(%rdi), %rbp\n\tmov 96(%rdi), %rsi\n"
	"\t.irp i,8,9,10,11,12,13,14,15\n\tmov 48+8*\\i(%rdi), %r\\i\n\t.endr\n"
	"\tmovq $1, 8(%rdi)\n"
	"\tmov 104(%rdi), %rdi\n"
	".globl sf_spin\nsf_spin:\n\tpause\n\tjmp sf_spin\n.globl sf_spin_end\nsf_spin_end:\n"
	/* The main thread: patterns in the registers tgkill() leaves alone, then the syscall. */
	".globl sf_main_entry\nsf_main_entry:\n"
	"\tmov %rsp, 0(%rdi)\n"
	"\tSF_LOADVEC\n"
	"\tmov 72(%rdi), %rbx\n\tmov 88(%rdi), %rbp\n"
	"\t.irp i,8,9,10,12,13,14,15\n\tmov 48+8*\\i(%rdi), %r\\i\n\t.endr\n"
	"\tmov 32(%rdi), %rsi\n\tmov 24(%rdi), %rdx\n\tmov $234, %eax\n\tmov 40(%rdi), %rdi\n"
	"\tsyscall\n"
	".globl sf_after_syscall\nsf_after_syscall:\n\tud2\n"
	/* The signal handler's entry: passes its entry sp (the frame address) as a 4th argument. */
	".globl sf_handler_entry\nsf_handler_entry:\n\tmov %rsp, %rcx\n\tjmp handler_c\n");
#define SP_REG REG_RSP
#define IP_REG REG_RIP
#else
#define ABI "ia32"
#define NVEC_SIMD 8
#define NVEC_ZMM 8
static const int main_regs[] = { 5, 6, 7 };
static const int thread_regs[] = { 0, 1, 2, 3, 5, 6, 7 };
__asm__(".text\n"
	".macro SF_LOADVEC\n"
	"\tcmpl $3, 16(%eax)\n\tjne 1f\n"
	"\t.irp i,0,1,2,3,4,5,6,7\n\tvmovdqu64 192+64*\\i(%eax), %zmm\\i\n\t.endr\n"
	"\t.irp i,0,1,2,3,4,5,6,7\n\tkmovq 2240+8*\\i(%eax), %k\\i\n\t.endr\n"
	"\tjmp 3f\n"
	"1:\tcmpl $2, 16(%eax)\n\tjne 2f\n"
	"\t.irp i,0,1,2,3,4,5,6,7\n\tvmovdqu 192+64*\\i(%eax), %ymm\\i\n\t.endr\n"
	"\tjmp 3f\n"
	"2:\tcmpl $1, 16(%eax)\n\tjne 3f\n"
	"\t.irp i,0,1,2,3,4,5,6,7\n\tmovdqu 192+64*\\i(%eax), %xmm\\i\n\t.endr\n"
	"3:\n"
	".endm\n"
	".globl sf_thread_entry\nsf_thread_entry:\n"
	"\tmov 4(%esp), %eax\n\tmov %esp, 0(%eax)\n"
	"\tSF_LOADVEC\n"
	"\tmov 56(%eax), %ecx\n\tmov 64(%eax), %edx\n\tmov 72(%eax), %ebx\n"
	"\tmov 88(%eax), %ebp\n\tmov 96(%eax), %esi\n\tmov 104(%eax), %edi\n"
	"\tmovl $1, 8(%eax)\n"
	"\tmov 48(%eax), %eax\n"
	".globl sf_spin\nsf_spin:\n\tpause\n\tjmp sf_spin\n.globl sf_spin_end\nsf_spin_end:\n"
	".globl sf_main_entry\nsf_main_entry:\n"
	"\tmov 4(%esp), %eax\n\tmov %esp, 0(%eax)\n"
	"\tSF_LOADVEC\n"
	"\tmov 88(%eax), %ebp\n\tmov 96(%eax), %esi\n\tmov 104(%eax), %edi\n"
	"\tmov 40(%eax), %ebx\n\tmov 32(%eax), %ecx\n\tmov 24(%eax), %edx\n\tmov $270, %eax\n"
	"\tint $0x80\n"
	".globl sf_after_syscall\nsf_after_syscall:\n\tud2\n"
	/* Entry: esp+4 is 16-aligned (the kernel's ia32 frame rule); call handler_c(sig, si, uc,
	 * entry sp) with the stack 16-aligned at the call. */
	".globl sf_handler_entry\nsf_handler_entry:\n"
	"\tmov %esp, %eax\n\tsub $12, %esp\n\tpush %eax\n\tpush 12(%eax)\n\tpush 8(%eax)\n\tpush 4(%eax)\n"
	"\tcall handler_c\n\tud2\n");
#define SP_REG REG_ESP
#define IP_REG REG_EIP
#endif

void sf_thread_entry(struct regs *r) __attribute__((noreturn));
void sf_main_entry(struct regs *r) __attribute__((noreturn));
void sf_handler_entry(int, siginfo_t *, void *);
extern char sf_spin[], sf_spin_end[], sf_after_syscall[];
void handler_c(int sig, siginfo_t *si, void *uc, uintptr_t entry_sp) __attribute__((used));

static struct regs main_r, thread_r;
static unsigned nvec, vwidth;

/* --- line 2, from the handler: async-signal-safe formatting by hand --- */
static char out[1024];
static size_t outn;

static void put(const char *s)
{
	while (*s && outn < sizeof out)
		out[outn++] = *s++;
}

static void put_hex(uintptr_t v)
{
	char d[2 * sizeof v], b[2 * sizeof v + 5];
	int n = 0, j = 0;
	do {
		d[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	b[j++] = '"';
	b[j++] = '0';
	b[j++] = 'x';
	while (n)
		b[j++] = d[--n];
	b[j++] = '"';
	b[j] = 0;
	put(b);
}

static void put_dec(long v)
{
	char d[24];
	int n = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	do {
		d[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		put("-");
	char b[25];
	int j = 0;
	while (n)
		b[j++] = d[--n];
	b[j] = 0;
	put(b);
}

static void field_hex(const char *name, uintptr_t v)
{
	put(",\"");
	put(name);
	put("\":");
	put_hex(v);
}

void handler_c(int sig, siginfo_t *si, void *ucv, uintptr_t entry_sp)
{
	ucontext_t *uc = ucv;
	volatile char here = 0;
	outn = 0;
	put("{\"handler\":{\"signal\":");
	put_dec(sig);
	put(",\"si_code\":");
	put_dec(si->si_code);
	put(",\"si_pid\":");
	put_dec(si->si_pid);
	field_hex("frame", entry_sp);
	field_hex("ucontext", (uintptr_t)uc);
	field_hex("siginfo", (uintptr_t)si);
	field_hex("fpstate", (uintptr_t)uc->uc_mcontext.fpregs);
	field_hex("sp", (uintptr_t)uc->uc_mcontext.gregs[SP_REG]);
	field_hex("ip", (uintptr_t)uc->uc_mcontext.gregs[IP_REG]);
	field_hex("trampoline_sp", (uintptr_t)main_r.sp);
	field_hex("handler_sp", (uintptr_t)&here);
	put("}}\n");
	for (size_t done = 0; done < outn;) {
		ssize_t w = write(1, out + done, outn - done);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			done += (size_t)w;
	}
	abort();
}

/* --- setup --- */

static void fill(struct regs *r, uint64_t gbase, unsigned vmul, unsigned vadd, uint64_t kbase)
{
	for (unsigned i = 0; i < 16; i++)
		r->gpr[i] = (uintptr_t)(gbase + i);
	for (unsigned i = 0; i < 32; i++)
		for (unsigned j = 0; j < 64; j++)
			r->vec[i][j] = (uint8_t)(i * vmul + j * 3 + vadd);
	for (unsigned i = 0; i < 8; i++)
		r->k[i] = kbase + i;
}

static void print_regs(const struct regs *r, const int *which, unsigned n, int vec_mode)
{
	printf("\"gpr\":{");
	for (unsigned i = 0; i < n; i++)
		printf("%s\"%s\":\"0x%llx\"", i ? "," : "", reg_names[which[i]], (unsigned long long)(uintptr_t)r->gpr[which[i]]);
	printf("},\"vectors\":[");
	for (unsigned i = 0; i < nvec; i++) {
		printf("%s\"", i ? "," : "");
		for (unsigned j = 0; j < vwidth; j++)
			printf("%02x", r->vec[i][j]);
		printf("\"");
	}
	printf("],\"k\":[");
	for (unsigned i = 0; vec_mode == 3 && i < 8; i++)
		printf("%s\"0x%llx\"", i ? "," : "", (unsigned long long)r->k[i]);
	printf("]");
}

static void *thread_main(void *arg)
{
	(void)arg;
	thread_r.tid = (uint64_t)syscall(SYS_gettid);
#ifdef __x86_64__
	if (amx)
		load_tiles(thread_tiles);
#endif
	sf_thread_entry(&thread_r);
}

/* size bytes of read-write anonymous memory between two PROT_NONE guard pages, so it is a
 * mapping (and a PT_LOAD segment) of its own. */
static void *guarded(size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, size + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + page, size, PROT_READ | PROT_WRITE) != 0)
		return NULL;
	return p + page;
}

int main(int argc, char **argv)
{
	if (argc != 2 && !(argc == 3 && strcmp(argv[2], "amx") == 0)) {
		fprintf(stderr, "usage: corecase DIR [amx]\n");
		return 2;
	}
	if (argc == 3) {
#ifdef __x86_64__
		if (sf_amx_request() != 0) {
			fprintf(stderr, "corecase: ARCH_REQ_XCOMP_PERM: %s\n", strerror(errno));
			return 1;
		}
		amx = 1;
		sf_tiles_config(tilecfg);
		tile_patterns(main_tiles, 0x17);
		tile_patterns(thread_tiles, 0x71);
#else
		fprintf(stderr, "corecase: amx: a 64-bit build only\n");
		return 2;
#endif
	}
	if (chdir(argv[1]) != 0) {
		fprintf(stderr, "corecase: chdir %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_CORE, &rl);
	}
	if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur == 0) {
		fprintf(stderr, "corecase: RLIMIT_CORE hard limit is 0: no core can be written\n");
		return 1;
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
	int vec_mode = avx512 ? 3 : avx ? 2 : 1;
	nvec = vec_mode == 3 ? NVEC_ZMM : NVEC_SIMD;
	vwidth = vec_mode == 3 ? 64 : vec_mode == 2 ? 32 : 16;
	const char *vname = vec_mode == 3 ? "zmm" : vec_mode == 2 ? "ymm" : "xmm";

#ifdef __x86_64__
	fill(&main_r, 0x1111000000000000ull, 16, 0x21, 0x4b4b000000000000ull);
	fill(&thread_r, 0x7777000000000000ull, 29, 0x93, 0x7b7b000000000000ull);
#else
	fill(&main_r, 0x11110000u, 16, 0x21, 0x4b4b000000000000ull);
	fill(&thread_r, 0x77770000u, 29, 0x93, 0x7b7b000000000000ull);
#endif
	main_r.vec_mode = thread_r.vec_mode = (uint64_t)vec_mode;

	/* The thread, on a stack whose place and size are known. */
	void *tstack = guarded(THREAD_STACK_SIZE);
	if (!tstack) {
		perror("corecase: mmap");
		return 1;
	}
	pthread_attr_t attr;
	pthread_t th;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, tstack, THREAD_STACK_SIZE);
	int e = pthread_create(&th, &attr, thread_main, NULL);
	if (e != 0) {
		fprintf(stderr, "corecase: pthread_create: %s\n", strerror(e));
		return 1;
	}
	while (!__atomic_load_n(&thread_r.ready, __ATOMIC_ACQUIRE))
		sched_yield();

	/* The alt stack and the handler. */
	void *alt = guarded(ALTSTACK_SIZE);
	if (!alt) {
		perror("corecase: mmap");
		return 1;
	}
	memset(alt, FILL, ALTSTACK_SIZE);
	stack_t ss = { .ss_sp = alt, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_flags = SA_ONSTACK | SA_SIGINFO;
	sa.sa_sigaction = sf_handler_entry;
	sigemptyset(&sa.sa_mask);
	if (sigaltstack(&ss, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0) {
		perror("corecase: sigaltstack/sigaction");
		return 1;
	}

	pid_t pid = getpid();
	pid_t tid = (pid_t)syscall(SYS_gettid);
	main_r.pid = (uint64_t)pid;
	main_r.tid = (uint64_t)tid;
	main_r.sig = SIGUSR1;

	struct utsname u;
	uname(&u);
	printf("{\"format\":\"sigframe-corecase/1\",\"abi\":\"%s\",\"release\":\"%s\",\"pid\":%d,", ABI, u.release, (int)pid);
	printf("\"tids\":{\"main\":%d,\"thread\":%d},", (int)tid, (int)thread_r.tid);
	printf("\"signal\":%d,\"si_code\":%d,\"abort_signal\":%d,", SIGUSR1, SI_TKILL, SIGABRT);
	printf("\"xcr0\":\"0x%llx\",\"vector_mode\":\"%s\",\"vector_width\":%u,", (unsigned long long)xcr0, vname, vwidth);
	printf("\"altstack\":{\"sp\":\"0x%llx\",\"size\":%d,\"flags\":0,\"fill\":\"0x%x\"},",
		(unsigned long long)(uintptr_t)alt, ALTSTACK_SIZE, FILL);
	printf("\"main\":{\"tid\":%d,\"resume_ip\":\"0x%llx\",", (int)tid, (unsigned long long)(uintptr_t)sf_after_syscall);
	print_regs(&main_r, main_regs, sizeof main_regs / sizeof main_regs[0], vec_mode);
	printf("},\"thread\":{\"tid\":%d,\"sp\":\"0x%llx\",\"stack\":{\"base\":\"0x%llx\",\"size\":%d},",
		(int)thread_r.tid, (unsigned long long)(uintptr_t)thread_r.sp, (unsigned long long)(uintptr_t)tstack, THREAD_STACK_SIZE);
	printf("\"spin\":{\"start\":\"0x%llx\",\"end\":\"0x%llx\"},", (unsigned long long)(uintptr_t)sf_spin,
		(unsigned long long)(uintptr_t)sf_spin_end);
	print_regs(&thread_r, thread_regs, sizeof thread_regs / sizeof thread_regs[0], vec_mode);
	printf("}");
#ifdef __x86_64__
	if (amx) {
		printf(",\"tiles\":{\"cfg\":\"");
		for (unsigned j = 0; j < 64; j++)
			printf("%02x", tilecfg[j]);
		printf("\",\"thread\":");
		print_tiles(thread_tiles);
		printf(",\"main\":");
		print_tiles(main_tiles);
		printf("}");
	}
#endif
	printf("}\n");
	fflush(stdout);

#ifdef __x86_64__
	if (amx)
		load_tiles(main_tiles);
#endif
	sf_main_entry(&main_r);
}
