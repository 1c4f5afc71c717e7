/*
 * test/gen-c.test.ts's live driver: sigframe_sizes_now() for this process, then the kernel asked
 * directly — a signal delivered on an alt stack of exactly min_altstack bytes ending at a page
 * boundary, and on one byte less — each in a child process, beside sigframe_check_altstack()'s
 * verdict on the same stack. Prints one JSON object. With "permitted" (64-bit) the process first
 * asks for AMX (ARCH_REQ_XCOMP_PERM); with "used" it also configures a tile (LDTILECFG, TILEZERO),
 * so sigframe_sizes_now() sees the state from arch_prctl() and XINUSE, and the children inherit it.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sigframe.h"

static volatile sig_atomic_t delivered;
static void on_usr1(int sig) { (void)sig; delivered = 1; }
static void on_usr1_info(int sig, siginfo_t *info, void *uc) { (void)sig, (void)info, (void)uc; delivered = 1; }

/*
 * 0: the handler ran; 1: sigaltstack() refused the size; 2: the kernel killed the child (SIGSEGV).
 * With SA_SIGINFO or without: 32-bit processes get different frames.
 */
static int deliver(size_t size, char *top, int siginfo) {
  pid_t pid = fork();
  int status;
  if (pid == 0) {
    stack_t ss;
    struct sigaction sa;
    memset(&ss, 0, sizeof ss);
    ss.ss_sp = top - size;
    ss.ss_size = size;
    if (sigaltstack(&ss, NULL) != 0) _exit(1);
    memset(&sa, 0, sizeof sa);
    if (siginfo)
      sa.sa_sigaction = on_usr1_info;
    else
      sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK | (siginfo ? SA_SIGINFO : 0);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    _exit(delivered ? 0 : 3);
  }
  if (waitpid(pid, &status, 0) != pid) return -1;
  if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGSEGV ? 2 : 10 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

/*
 * For each top residue modulo 64: the smallest ss_size sigframe_check_altstack() passes, and
 * whether the kernel delivers on exactly that and refuses one byte less. Returns the number of
 * residues where both agree; *worst gets the largest such size.
 */
static int sweep(const struct sigframe_sizes *s, char *end, unsigned *worst) {
  int r, agree = 0;
  *worst = 0;
  for (r = 0; r < 64; r++) {
    char *top = end - 64 + r;
    size_t size = s->sigaltstack_min;
    while (sigframe_check_altstack(s, top - size, size) != SIGFRAME_CHECK_OK && size < (1u << 19)) size++;
    if (size > *worst) *worst = (unsigned)size;
    if (deliver(size, top, 0) == 0 && (size - 1 < s->sigaltstack_min || deliver(size - 1, top, 0) == 2)) agree++;
  }
  return agree;
}

static int enter_amx(const char *state) {
#ifdef __x86_64__
  static unsigned char cfg[64] __attribute__((aligned(64)));
  if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) return -1;
  if (strcmp(state, "used") == 0) {
    cfg[0] = 1, cfg[16] = 64, cfg[48] = 16; /* palette 1, tile 0: 16 rows of 64 bytes */
    __asm__ volatile("ldtilecfg %0\n\ttilezero %%tmm0" ::"m"(cfg) : "memory");
  } else if (strcmp(state, "permitted") != 0)
    return -1;
  return 0;
#else
  (void)state;
  return -1;
#endif
}

int main(int argc, char **argv) {
  struct sigframe_sizes s;
  int rc;
  if (argc > 1 && enter_amx(argv[1]) != 0) {
    printf("{\"rc\": \"amx %s refused\"}\n", argv[1]);
    return 1;
  }
  rc = sigframe_sizes_now(&s);
  size_t len = 1 << 20;
  char *map, *top;
  unsigned worst;
  int agree;
  if (rc != 0) {
    printf("{\"rc\": %d}\n", rc);
    return 0;
  }
  map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) return 1;
  top = map + len;
  agree = sweep(&s, top, &worst);
  printf("{\"rc\": 0, \"flags\": %u, \"era\": \"%s\", \"xcr0\": \"0x%llx\", \"max_size\": %u, \"user_size\": %u, "
         "\"at_minsigstksz\": %u, \"frame_size\": %u, \"frame_size_any_top\": %u, \"min_altstack\": %u, "
         "\"min_altstack_any_top\": %u, \"min_altstack_amx_used\": %u, \"sigaltstack_min\": %u, \"allocate\": %u, "
         "\"at_min\": {\"check\": %d, \"kernel\": %d, \"kernel_siginfo\": %d}, \"one_less\": {\"check\": %d, \"kernel\": %d}, "
         "\"residues_agree\": %d, \"worst_top_size\": %u}\n",
         s.flags, sigframe_era_label(&s), (unsigned long long)s.xcr0, s.max_size, s.user_size, s.at_minsigstksz,
         s.frame_size, s.frame_size_any_top, s.min_altstack, s.min_altstack_any_top, s.min_altstack_amx_used,
         s.sigaltstack_min, s.allocate, sigframe_check_altstack(&s, top - s.min_altstack, s.min_altstack),
         deliver(s.min_altstack, top, 0), deliver(s.min_altstack, top, 1),
         sigframe_check_altstack(&s, top - (s.min_altstack - 1), s.min_altstack - 1),
         deliver(s.min_altstack - 1, top, 0), agree, worst);
  return 0;
}
