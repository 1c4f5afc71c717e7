/*
 * sigframe sigreturn experiments: what the running kernel's rt_sigreturn does with an edited
 * frame. For each edit a child process loads a known pattern into ymm0, takes SIGUSR1, lets the
 * handler edit its own frame, returns through rt_sigreturn and stores ymm0 again. The child either
 * survives — and the stored ymm0 shows whether the frame's state was restored (full), only its
 * legacy x87/SSE part (fx-only), or nothing (init) — or dies of SIGSEGV ("bad frame").
 * Prints one JSON object. Built as a 64-bit and (with -m32 -no-pie) a 32-bit program: the ia32
 * restore path converts the frame in software and checks it differently.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "fpframe.h"

static const char *const edits[] = {
	"none",         "magic1",     "xstate_size", "magic2",      "xstate_bv_clear_ymm",
	"xstate_bv_foreign", "xcomp_bv", "header_reserved", "mxcsr_reserved", "fpstate_null",
	"fpstate_shift16", "header_16", "header_24",
};
#define NEDITS (sizeof edits / sizeof edits[0])

static int edit;
static unsigned foreign_bit;
static unsigned char altstack[65536] __attribute__((aligned(4096)));

static void handler(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	(void)si;
	ucontext_t *uc = ucv;
	unsigned char *fpregs = (unsigned char *)uc->uc_mcontext.fpregs;
	unsigned char *fp = fpregs + FX_IMAGE;
	uint32_t xstate_size;
	memcpy(&xstate_size, fp + FX_SW_XSTATE_SIZE, 4);
	uint32_t zero = 0;
	uint64_t v;
	switch (edit) {
	case 1: memcpy(fp + FX_SW_MAGIC1, &zero, 4); break;
	case 2: { uint32_t big = 0x7fffffff; memcpy(fp + FX_SW_XSTATE_SIZE, &big, 4); } break;
	case 3: memcpy(fp + xstate_size, &zero, 4); break;
	case 4: memcpy(&v, fp + FX_HDR_XSTATE_BV, 8); v &= ~4ull; memcpy(fp + FX_HDR_XSTATE_BV, &v, 8); break;
	case 5: memcpy(&v, fp + FX_HDR_XSTATE_BV, 8); v |= 1ull << foreign_bit; memcpy(fp + FX_HDR_XSTATE_BV, &v, 8); break;
	case 6: v = 1; memcpy(fp + FX_HDR_RESERVED1(0), &v, 8); break;
	case 7: v = 1; memcpy(fp + FX_HDR_RESERVED2(3), &v, 8); break;
	case 8: { uint32_t m; memcpy(&m, fp + FX_MXCSR, 4); m |= 0x80000000u; memcpy(fp + FX_MXCSR, &m, 4); } break;
	case 9: uc->uc_mcontext.fpregs = NULL; break;
	case 10: uc->uc_mcontext.fpregs = (void *)(fpregs + 16); break;
	case 11: v = 1; memcpy(fp + FX_HDR_RESERVED1(1), &v, 8); break;
	case 12: v = 1; memcpy(fp + FX_HDR_RESERVED2(0), &v, 8); break;
	}
}

int main(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	uint64_t xcr0 = ((uint64_t)hi << 32) | lo;
	if (!(xcr0 & 4)) {
		printf("{\"format\": \"sigframe-sigreturn/1\", \"error\": \"no AVX: ymm0 cannot show the outcome\"}\n");
		return 0;
	}
	for (foreign_bit = 2; foreign_bit < 62 && (xcr0 >> foreign_bit) & 1; foreign_bit++)
		;
#ifdef __x86_64__
	const char *abi = "x86_64";
#else
	const char *abi = "ia32";
#endif
	printf("{\n  \"format\": \"sigframe-sigreturn/1\",\n  \"abi\": \"%s\",\n  \"xcr0\": \"0x%llx\",\n  \"foreign_bit\": %u,\n  \"results\": [",
	       abi, (unsigned long long)xcr0, foreign_bit);
	for (unsigned i = 0; i < NEDITS; i++) {
		int pipefd[2];
		if (pipe(pipefd) != 0)
			return 1;
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0) {
			close(pipefd[0]);
			edit = i;
			stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
			struct sigaction sa;
			memset(&sa, 0, sizeof sa);
			sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
			sa.sa_sigaction = handler;
			if (sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL))
				_exit(2);
			unsigned char pat[32] __attribute__((aligned(32))), out[32] __attribute__((aligned(32)));
			for (int j = 0; j < 32; j++)
				pat[j] = (unsigned char)(0x40 + j);
#ifdef __x86_64__
			long nr = 62; /* kill */
			__asm__ volatile("vmovdqu (%[pat]), %%ymm0\n\t"
					 "syscall\n\t"
					 "vmovdqu %%ymm0, (%[out])\n\t"
					 : "+a"(nr)
					 : [pat] "r"(pat), [out] "r"(out), "D"((long)getpid()), "S"((long)SIGUSR1)
					 : "rcx", "r11", "memory", "xmm0");
#else
			long nr = 37; /* kill */
			__asm__ volatile("vmovdqu (%[pat]), %%ymm0\n\t"
					 "int $0x80\n\t"
					 "vmovdqu %%ymm0, (%[out])\n\t"
					 : "+a"(nr)
					 : [pat] "S"(pat), [out] "D"(out), "b"((long)getpid()), "c"((long)SIGUSR1)
					 : "memory"); /* i386 code without -msse never keeps values in xmm0 */
#endif
			if (write(pipefd[1], out, 32) != 32)
				_exit(3);
			_exit(0);
		}
		close(pipefd[1]);
		unsigned char out[32];
		ssize_t n = read(pipefd[0], out, sizeof out);
		close(pipefd[0]);
		int st;
		waitpid(pid, &st, 0);
		printf("%s\n    {\"edit\": \"%s\", ", i ? "," : "", edits[i]);
		if (WIFSIGNALED(st))
			printf("\"outcome\": \"signal %d\"}", WTERMSIG(st));
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 32) {
			/* What came back in ymm0: the low half (xmm0) and the high half. */
			int low_pat = 1, high_pat = 1, low_zero = 1, high_zero = 1;
			for (int j = 0; j < 16; j++) {
				low_pat &= out[j] == 0x40 + j;
				low_zero &= out[j] == 0;
				high_pat &= out[16 + j] == 0x40 + 16 + j;
				high_zero &= out[16 + j] == 0;
			}
			printf("\"outcome\": \"survived\", \"xmm0\": \"%s\", \"ymm0_high\": \"%s\"}",
			       low_pat ? "restored" : low_zero ? "zero" : "other",
			       high_pat ? "restored" : high_zero ? "zero" : "other");
		} else
			printf("\"outcome\": \"exit %d\"}", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	printf("\n  ]\n}\n");
	return 0;
}
