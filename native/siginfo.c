/*
 * The siginfo a handler gets, byte for byte, for test/siginfo.test.ts to hold decodeSiginfo() to
 * what gdb reads with PTRACE_GETSIGINFO ($_siginfo) at the same signals:
 *
 *   1. SIGUSR1 sent to this thread with tgkill() (SI_TKILL: si_pid, si_uid);
 *   2. SIGSEGV from a load at FAULT_ADDR (SEGV_MAPERR: si_addr).
 *
 * The SA_SIGINFO handler prints "SIGINFO <signo> <256 hex digits>" — the 128 bytes at its info
 * pointer — with write(2) only, and the SIGSEGV one exits. "PID <pid> <uid>" comes first.
 * Build with cc -m64 (siginfo_t) or cc -m32 (compat_siginfo_t).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FAULT_ADDR 0x10

static void put(const char *s, size_t n) {
	while (n > 0) {
		ssize_t w = write(1, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static size_t dec(char *out, unsigned long v) {
	char tmp[24];
	size_t n = 0, i;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static void handler(int sig, siginfo_t *info, void *uc) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)info;
	char line[16 + 2 * 128 + 2];
	size_t n = 0, i;
	(void)uc;
	memcpy(line, "SIGINFO ", 8);
	n = 8;
	n += dec(line + n, (unsigned long)sig);
	line[n++] = ' ';
	for (i = 0; i < 128; i++) {
		line[n++] = hex[p[i] >> 4];
		line[n++] = hex[p[i] & 15];
	}
	line[n++] = '\n';
	put(line, n);
	if (sig == SIGSEGV)
		_exit(0);
}

int main(void) {
	struct sigaction sa;
	char line[64];
	size_t n;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, 0) || sigaction(SIGSEGV, &sa, 0))
		return 2;

	memcpy(line, "PID ", 4);
	n = 4;
	n += dec(line + n, (unsigned long)getpid());
	line[n++] = ' ';
	n += dec(line + n, (unsigned long)getuid());
	line[n++] = '\n';
	put(line, n);

	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1);
	(void)*(volatile int *)FAULT_ADDR;
	return 3;
}
