/* test/gen-c.test.ts: sigframe_parse_kernel_version() on each argument; prints the code or the error. */
#include <stdio.h>
#include "sigframe.h"

int main(int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    unsigned v = 0;
    int rc = sigframe_parse_kernel_version(argv[i], &v);
    if (rc != 0)
      printf("%d\n", rc);
    else
      printf("%x\n", v);
  }
  return 0;
}
