/*
 * test/gen-c.test.ts's driver for sigframe.h: one case per input line,
 *   FLAGS KERNEL_VERSION N  LEAF SUBLEAF EAX EBX ECX EDX  (N records)
 * one output line per case: the return code, then every field of struct sigframe_sizes.
 */
#include <stdio.h>
#include "sigframe.h"

int main(void) {
  static struct sigframe_cpuid c;
  unsigned flags, version, n, i;
  while (scanf("%x %x %u", &flags, &version, &n) == 3) {
    struct sigframe_sizes s;
    int rc;
    c.count = n;
    for (i = 0; i < n; i++) {
      struct sigframe_cpuid_leaf r;
      if (scanf("%x %x %x %x %x %x", &r.leaf, &r.subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx) != 6) return 2;
      if (i < SIGFRAME_CPUID_MAX) c.leaf[i] = r;
    }
    rc = sigframe_sizes_for(&c, version, flags, &s);
    if (rc != 0) {
      printf("%d\n", rc);
      continue;
    }
    printf("0 %x %x %s %llx %u %u %u %u %u %u %u %u %u %u %u %u %u\n", s.flags, s.kernel_version,
           sigframe_era_label(&s), (unsigned long long)s.xcr0, s.max_size, s.default_size, s.user_size,
           s.user_size_amx_used, s.at_minsigstksz, s.frame_size, s.frame_size_any_top, s.min_altstack,
           s.min_altstack_any_top, s.min_altstack_amx_used, s.sigaltstack_min, s.allocate, s.overflow_check);
  }
  return 0;
}
