/*
 * sigframe host probe: what only the CPU and the running kernel can tell.
 * Prints one JSON object: raw CPUID (leaves 0, 1, 7.0/7.1, every valid 0xD subleaf,
 * 0x80000000..4), XCR0 and XINUSE (XGETBV 0/1), getauxval(AT_MINSIGSTKSZ),
 * ARCH_GET_XCOMP_SUPP/PERM, whether this kernel takes 32-bit system calls (IA32 emulation), the
 * glibc programs built here run with, and uname. Compiled and cached by src/host/probe.ts.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#ifndef AT_MINSIGSTKSZ
#define AT_MINSIGSTKSZ 51 /* include/uapi/linux/auxvec.h, Linux 5.14+ */
#endif
#define ARCH_GET_XCOMP_SUPP 0x1021 /* arch/x86/include/uapi/asm/prctl.h */
#define ARCH_GET_XCOMP_PERM 0x1022

static int nrec;

static void rec(unsigned leaf, unsigned sub, unsigned r[4])
{
	__cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
	printf("%s\n    [%u, %u, %u, %u, %u, %u]", nrec++ ? "," : "", leaf, sub, r[0], r[1], r[2], r[3]);
}

static uint64_t xgetbv(unsigned idx)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(idx));
	return ((uint64_t)hi << 32) | lo;
}

static void xcomp(const char *name, int option)
{
	uint64_t v = 0;
	long ret = syscall(SYS_arch_prctl, option, &v);
	if (ret == 0)
		printf(",\n  \"%s\": \"0x%llx\"", name, (unsigned long long)v);
	else
		printf(",\n  \"%s\": null, \"%s_errno\": %d", name, name, errno);
}

/*
 * IA32 emulation is what lets 32-bit frames exist (CONFIG_IA32_EMULATION, and since 6.7 the
 * ia32_emulation= boot option). `int $0x80` enters the kernel's 32-bit system call table: with
 * emulation it runs getpid (20 in arch/x86/entry/syscalls/syscall_32.tbl); without it the gate
 * is absent and the child dies of SIGSEGV, or gets ENOSYS. A child, so a fault costs nothing.
 */
static void ia32_syscall(void)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		long ret = 20;
		/* The compat entry does not preserve r8-r15 for a 64-bit caller. */
		__asm__ volatile("int $0x80"
				 : "+a"(ret)
				 :
				 : "memory", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
		_exit(ret == (long)getpid() ? 0 : 1);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0) {
		printf(",\n  \"ia32_syscall\": null");
		return;
	}
	printf(",\n  \"ia32_syscall\": %s", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "true" : "false");
}

int main(void)
{
	unsigned r[4], max, maxext, osxsave = 0, xgetbv1 = 0;
	uint64_t supported = 3;
	struct utsname u;

	printf("{\n  \"format\": \"sigframe-probe/1\",\n  \"cpuid\": [");
	rec(0, 0, r);
	max = r[0];
	if (max >= 1) {
		rec(1, 0, r);
		osxsave = (r[2] >> 27) & 1;
	}
	if (max >= 7) {
		rec(7, 0, r);
		if (r[0] >= 1)
			rec(7, 1, r);
	}
	if (max >= 0xd) {
		rec(0xd, 0, r);
		supported = ((uint64_t)r[3] << 32) | r[0];
		rec(0xd, 1, r);
		supported |= ((uint64_t)r[3] << 32) | r[2];
		xgetbv1 = (r[0] >> 2) & 1;
		for (unsigned n = 2; n < 64; n++)
			if ((supported >> n) & 1)
				rec(0xd, n, r);
	}
	/* A hypervisor's vendor signature (leaf 0x40000000 when CPUID.1:ECX.hypervisor is set). */
	unsigned hv = 0, hvsig[3] = { 0, 0, 0 };
	if (max >= 1) {
		__cpuid(1, r[0], r[1], r[2], r[3]);
		if ((r[2] >> 31) & 1) {
			__cpuid(0x40000000, r[0], hvsig[0], hvsig[1], hvsig[2]);
			hv = 1;
		}
	}
	rec(0x80000000, 0, r);
	maxext = r[0];
	for (unsigned l = 0x80000001; l <= 0x80000004 && l <= maxext; l++)
		rec(l, 0, r);
	printf("\n  ]");

	if (osxsave)
		printf(",\n  \"xcr0\": \"0x%llx\"", (unsigned long long)xgetbv(0));
	else
		printf(",\n  \"xcr0\": null");
	if (osxsave && xgetbv1)
		printf(",\n  \"xinuse\": \"0x%llx\"", (unsigned long long)xgetbv(1));
	else
		printf(",\n  \"xinuse\": null");

	/* MXCSR_MASK: FXSAVE of a zeroed buffer (Intel SDM Vol. 1 §11.6.6); 0 means 0xffbf. */
	unsigned char fx[512] __attribute__((aligned(16)));
	memset(fx, 0, sizeof fx);
	__asm__ volatile("fxsave %0" : "=m"(fx));
	uint32_t mxcsr_mask;
	memcpy(&mxcsr_mask, fx + 28, 4);
	printf(",\n  \"mxcsr_mask\": \"0x%x\"", mxcsr_mask);

	errno = 0;
	unsigned long minsig = getauxval(AT_MINSIGSTKSZ);
	if (errno == ENOENT)
		printf(",\n  \"at_minsigstksz\": null");
	else
		printf(",\n  \"at_minsigstksz\": %lu", minsig);
	xcomp("xcomp_supp", ARCH_GET_XCOMP_SUPP);
	xcomp("xcomp_perm", ARCH_GET_XCOMP_PERM);
	ia32_syscall();
	if (hv) {
		char sig[13];
		memcpy(sig, hvsig, 12);
		sig[12] = 0;
		for (int i = 0; i < 12; i++)
			if (sig[i] && (sig[i] < 0x20 || sig[i] > 0x7e || sig[i] == '"' || sig[i] == '\\'))
				sig[i] = '?';
		printf(",\n  \"hypervisor\": \"%s\"", sig);
	}
#ifdef __GLIBC__
	printf(",\n  \"glibc\": \"%s\"", gnu_get_libc_version());
#endif

	if (uname(&u) == 0)
		printf(",\n  \"release\": \"%s\",\n  \"machine\": \"%s\"", u.release, u.machine);
	printf("\n}\n");
	return 0;
}
