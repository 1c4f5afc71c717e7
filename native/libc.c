/*
 * sigframe C library experiment: what the C library this program is linked with answers about
 * signal stacks, so tests and `sigframe size --measure` can hold sigframe's per-release libc
 * table to it. Built with the system compiler (glibc) and, where it exists, musl-gcc -static.
 * Prints one JSON object:
 *  - libc and version (glibc: gnu_get_libc_version(); musl has no such call, so the caller
 *    supplies the version of the musl it built with);
 *  - sysconf(_SC_MINSIGSTKSZ) and sysconf(_SC_SIGSTKSZ), or null where the headers have no such
 *    name (glibc before 2.34, musl before 1.2.4) or sysconf refuses it;
 *  - the smallest ss_size for which sigaltstack() — the library's wrapper and then the kernel —
 *    succeeds, and errno one byte below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

static char region[128 * 1024];

static int try_size(size_t size)
{
	stack_t ss = { .ss_sp = region, .ss_size = size, .ss_flags = 0 };
	return sigaltstack(&ss, NULL);
}

static void print_sysconf(const char *key, int defined, int name)
{
	long v = -1;
	if (defined) {
		errno = 0;
		v = sysconf(name);
	}
	if (v < 0)
		printf(",\n  \"%s\": null", key);
	else
		printf(",\n  \"%s\": %ld", key, v);
}

int main(void)
{
#ifdef __GLIBC__
	printf("{\n  \"format\": \"sigframe-libc/1\",\n  \"libc\": \"glibc\",\n  \"version\": \"%s\"",
	       gnu_get_libc_version());
#elif defined(MUSL_VERSION)
	printf("{\n  \"format\": \"sigframe-libc/1\",\n  \"libc\": \"musl\",\n  \"version\": \"%s\"",
	       MUSL_VERSION);
#else
	printf("{\n  \"format\": \"sigframe-libc/1\",\n  \"libc\": \"musl\",\n  \"version\": null");
#endif
#ifdef _SC_MINSIGSTKSZ
	print_sysconf("sc_minsigstksz", 1, _SC_MINSIGSTKSZ);
#else
	print_sysconf("sc_minsigstksz", 0, 0);
#endif
#ifdef _SC_SIGSTKSZ
	print_sysconf("sc_sigstksz", 1, _SC_SIGSTKSZ);
#else
	print_sysconf("sc_sigstksz", 0, 0);
#endif
	/* Acceptance is monotonic in the size: binary search over what fits in the region. */
	size_t lo = 1, hi = sizeof region + 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (try_size(mid) == 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	errno = 0;
	int below = try_size(lo - 1) == 0 ? 0 : errno;
	printf(",\n  \"sigaltstack_min\": %zu,\n  \"errno_below\": %d\n}\n", lo, below);
	return 0;
}
