import { amxStates } from '../kernel/task.js';
import {
  cAbis,
  cConstants,
  cDeps,
  cEras,
  cFlagLeaves,
  cFlags,
  cKinds,
  cMasks,
  cOverflowChecks,
  cXfeatures,
  flagEnum,
  kindEnum,
  supervisorBit,
} from './tables.js';

/**
 * `sigframe gen c`: sigframe.h, a self-contained C99 header that sizes alt stacks at run time with
 * the kernel model of src/kernel/, for programs that cannot run sigframe (runtimes, libraries).
 * The tables come from layouts/ (src/gen/tables.ts); each C function names the TypeScript
 * function it mirrors, and test/gen-c.test.ts holds the two to equal answers on every shipped
 * profile, era, configuration and AMX state.
 */
export const C_HEADER_FILE = 'sigframe.h';

/** The public C functions of a header text, in the order it defines them (`gen c --json`). */
export function cFunctions(header: string): string[] {
  return [...header.matchAll(/^SIGFRAME_API [^(]*?\b(sigframe_\w+)\(/gm)].map((m) => m[1]!);
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;
const u64 = (v: bigint) => `UINT64_C(${hex(v)})`;
const regIndex = { eax: 0, ebx: 1, ecx: 2, edx: 3 } as const;
const cString = (s: string) => JSON.stringify(s.replace(/–/g, '-'));

function flagsTable(): string {
  if (cFlags.length > 64) throw new Error('sigframe.h keeps CPU flags in a 64-bit mask');
  const enumLines = cFlags.map((f, i) => `  ${flagEnum(f.id)} = ${i},`);
  const rows = cFlags.map(
    (f) => `  { ${hex(f.leaf)}, ${f.subleaf}, ${regIndex[f.reg]}, ${f.bit} }, /* ${f.id}: ${f.desc} */`,
  );
  return `enum {
${enumLines.join('\n')}
  SIGFRAME__NFLAGS = ${cFlags.length}
};

/* The CPUID bits the kernel model reads (layouts/cpuid.ts): leaf, subleaf, register, bit. */
struct sigframe__field { uint32_t leaf, subleaf; uint8_t reg, bit; };
SIGFRAME__DATA const struct sigframe__field sigframe__fields[SIGFRAME__NFLAGS] = {
${rows.join('\n')}
};

/* arch/x86/kernel/cpu/cpuid-deps.c: a flag is cleared when its prerequisite is (layouts/cpuid.ts). */
#define SIGFRAME__NDEPS ${cDeps.length}
SIGFRAME__DATA const uint8_t sigframe__deps[SIGFRAME__NDEPS][2] = {
${cDeps.map(([a, b]) => `  { ${flagEnum(cFlags[a]!.id)}, ${flagEnum(cFlags[b]!.id)} },`).join('\n')}
};

/* The (leaf, subleaf) pairs sigframe_cpuid_read() records besides the XSAVE component subleaves. */
#define SIGFRAME__NLEAVES ${cFlagLeaves.length + 1}
SIGFRAME__DATA const uint32_t sigframe__leaves[SIGFRAME__NLEAVES][2] = {
${[...cFlagLeaves, { leaf: 0xd, subleaf: 0 }]
  .sort((a, b) => a.leaf - b.leaf || a.subleaf - b.subleaf)
  .map((l) => `  { ${hex(l.leaf)}, ${l.subleaf} },`)
  .join('\n')}
};`;
}

function xfeatureTable(): string {
  const rows = cXfeatures.map(
    (x) =>
      `  { ${x.gate < 0 ? '-1' : flagEnum(x.gateName!)}, ${x.kernel64Only ? 1 : 0}, ${x.archSize} }, /* ${x.nr} ${x.name ?? '(none)'} */`,
  );
  return `/*
 * The XSAVE components (layouts/xfeatures.ts): the CPUID flag without which the kernel leaves the
 * component out of XCR0 (xsave_cpuid_features[], -1: never enabled by Linux), whether only 64-bit
 * kernels enable it, and its architectural size, which CPUID.(0xD,n).EAX must report (0: none).
 */
#define SIGFRAME__NXFEATURES ${cXfeatures.length}
struct sigframe__xfeature { int8_t gate; uint8_t kernel64_only; uint32_t arch_size; };
SIGFRAME__DATA const struct sigframe__xfeature sigframe__xfeatures[SIGFRAME__NXFEATURES] = {
${rows.join('\n')}
};`;
}

function eraTable(): string {
  const rows = cEras.map(
    (e) =>
      `  { ${hex(e.since)}, ${u64(e.userSupported)}, ${u64(e.userDynamic)}, ${e.apxMpxConflict ? 1 : 0}, ${e.atMinsigstksz ? 1 : 0}, ${e.overflowNative}, ${e.overflowCompat}, ${e.sigaltstackValidation ? 1 : 0}, ${e.xfeatureMax}, ${cString(e.label)} },`,
  );
  return `/*
 * Kernel eras (layouts/kernels.ts): a version belongs to the newest era whose first version it
 * reaches. since (KERNEL_VERSION), XFEATURE_MASK_USER_SUPPORTED, XFEATURE_MASK_USER_DYNAMIC,
 * APX with MPX disables XSAVE, AT_MINSIGSTKSZ in the aux vector, get_sigframe()'s overflow check
 * (native, ia32 on a 64-bit kernel), sigaltstack() size validation, XFEATURE_MAX.
 */
#define SIGFRAME__NERAS ${cEras.length}
struct sigframe__era {
  uint32_t since;
  uint64_t user_supported, user_dynamic;
  uint8_t apx_mpx_conflict, at_minsigstksz, overflow_native, overflow_compat, sigaltstack_validation,
      xfeature_max;
  const char *label;
};
SIGFRAME__DATA const struct sigframe__era sigframe__eras[SIGFRAME__NERAS] = {
${rows.join('\n')}
};`;
}

function kindTable(): string {
  const rows = cKinds.map(
    (k) =>
      `  { ${k.abi}, ${k.fsaveHeader ? 1 : 0}, ${k.redZone}, ${k.entryAdd}, ${k.entrySub}, ${k.size64}, ${k.size32} }, /* ${k.name}: struct ${k.struct} */`,
  );
  return `/*
 * Frame kinds (layouts/frames.ts): ABI, FSAVE header in front of the image (32-bit frames),
 * red zone, the handler-entry alignment (sp + add rounded down to 16, minus sub), and the frame
 * struct's size on a 64-bit and on an i386 kernel (0: not delivered there).
 */
struct sigframe__kind { uint8_t abi, fsave_header, red_zone, entry_add, entry_sub; uint16_t size64, size32; };
SIGFRAME__DATA const struct sigframe__kind sigframe__kinds[SIGFRAME_KIND_COUNT] = {
${rows.join('\n')}
};`;
}

function constants(): string {
  return Object.entries(cConstants)
    .map(([name, v]) => `#define SIGFRAME__${name} ${v}u`)
    .concat(Object.entries(cMasks).map(([name, v]) => `#define SIGFRAME__MASK_${name} ${u64(v)}`))
    .concat([`#define SIGFRAME__D_N_ECX_SUPERVISOR ${supervisorBit}`])
    .join('\n');
}

const amxFlag = (s: (typeof amxStates)[number]) => `SIGFRAME_AMX_${s.toUpperCase()}`;

/** The header's text: the same bytes for the same tables. */
export function cHeader(): string {
  const kinds = cKinds.map((k, i) => `  ${kindEnum(k.name)} = ${i},`).join('\n');
  const abis = cAbis.map((a, i) => `#define SIGFRAME__ABI_${a.toUpperCase()} ${i}`).join('\n');
  const overflow = cOverflowChecks.map((c, i) => `  SIGFRAME_OVERFLOW_${c.toUpperCase()} = ${i},`).join('\n');
  const amx = amxStates.map((s, i) => `#define ${amxFlag(s)} (${i}u << 4)`).join('\n');
  return `/*
 * sigframe.h: how big an alternate signal stack must be on x86 Linux, for the running CPU and
 * kernel or any recorded one. Generated by \`sigframe gen c\` from sigframe's tables (layouts/);
 * do not edit, regenerate. One C99 header, static functions only, no allocation, no global
 * state; sigframe_sizes_now() uses CPUID, XGETBV, getauxval(AT_MINSIGSTKSZ), uname() and
 * arch_prctl(ARCH_GET_XCOMP_PERM) as a raw system call, all of which a signal handler may call.
 *
 * The model is the kernel's: arch/x86/kernel/fpu/xstate.c (which components reach XCR0, their
 * sizes), arch/x86/kernel/signal.c (get_sigframe(), max_frame_size, sigaltstack_size_valid()),
 * arch/x86/kernel/fpu/signal.c (fpu__alloc_mathframe()), kernel/signal.c (do_sigaltstack()),
 * each rule as of the era it belongs to. Sizes in bytes.
 *
 * Define SIGFRAME_API before including it (e.g. empty) to give the functions external linkage,
 * for a foreign-function interface.
 */
#ifndef SIGFRAME_H
#define SIGFRAME_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__linux__) && (defined(__x86_64__) || defined(__i386__))
#define SIGFRAME_HAVE_NOW 1
#include <cpuid.h>
#include <sys/auxv.h>
#include <sys/utsname.h>
#else
#define SIGFRAME_HAVE_NOW 0
#endif

#if defined(__GNUC__)
#define SIGFRAME__UNUSED __attribute__((unused))
#else
#define SIGFRAME__UNUSED
#endif
#ifndef SIGFRAME_API
#define SIGFRAME_API static SIGFRAME__UNUSED
#endif
#define SIGFRAME__INTERNAL static SIGFRAME__UNUSED
#define SIGFRAME__DATA static SIGFRAME__UNUSED

/* KERNEL_VERSION(a, b, c) as <linux/version.h> has it; 0 means the newest kernel sigframe knows. */
#define SIGFRAME_KERNEL_VERSION(a, b, c) (((unsigned)(a) << 16) + ((unsigned)(b) << 8) + ((c) > 255 ? 255u : (unsigned)(c)))

/* The handler's frame: x86_64, x32, ia32 without SA_SIGINFO, ia32 with SA_SIGINFO. */
enum sigframe_kind {
${kinds}
  SIGFRAME_KIND_COUNT = ${cKinds.length}
};

/* Flags for sigframe_sizes_for(): a frame kind, the thread's AMX state, the kernel's build. */
#define SIGFRAME_KIND_MASK 0xfu
/* AMX: no permission; the process holds ARCH_REQ_XCOMP_PERM; this thread executed a tile instruction. */
${amx}
#define SIGFRAME_AMX_MASK (3u << 4)
#define SIGFRAME_KERNEL_32BIT (1u << 8)       /* an i386 kernel (ia32 frames only) */
#define SIGFRAME_NO_IA32_EMULATION (1u << 9)  /* a 64-bit kernel without CONFIG_IA32_EMULATION */
#define SIGFRAME_STRICT_SAS_SIZE (1u << 10)   /* CONFIG_STRICT_SIGALTSTACK_SIZE */
#define SIGFRAME_IN_FLAGS (SIGFRAME_KIND_MASK | SIGFRAME_AMX_MASK | SIGFRAME_KERNEL_32BIT | SIGFRAME_NO_IA32_EMULATION | SIGFRAME_STRICT_SAS_SIZE)
/* Set in sigframe_sizes.flags, beside the input flags. */
#define SIGFRAME_AT_FROM_KERNEL (1u << 16)    /* at_minsigstksz is the aux vector's, and the model agrees */
#define SIGFRAME_AT_ESTIMATED (1u << 17)      /* the kernel has no AT_MINSIGSTKSZ (before 5.14): the model's value */
#define SIGFRAME_XSAVE (1u << 18)             /* the kernel uses XSAVE (else FXSAVE or FSAVE) */
#define SIGFRAME_FXSR (1u << 19)
#define SIGFRAME_AMX_POSSIBLE (1u << 20)      /* this thread can reach AMX state used */

/* get_sigframe() on a frame that would leave the alt stack: no check, only when already on it, always. */
enum sigframe_overflow {
${overflow}
};

/* One CPUID output. */
struct sigframe_cpuid_leaf { uint32_t leaf, subleaf, eax, ebx, ecx, edx; };

/*
 * A CPU as CPUID describes it: leaves 1, 7 (subleaves 0 and 1), 0xD (subleaf 0, 1 and one per
 * supported component) and 0x80000001. A record that is absent reads as zeros; the first of two
 * records for one (leaf, subleaf) counts.
 */
#define SIGFRAME_CPUID_MAX 80
struct sigframe_cpuid {
  uint32_t count;
  struct sigframe_cpuid_leaf leaf[SIGFRAME_CPUID_MAX];
};

struct sigframe_sizes {
  uint32_t flags;               /* the input flags, and SIGFRAME_AT_* / XSAVE / FXSR / AMX_POSSIBLE */
  uint32_t kernel_version;      /* as given (0: the newest era) or from uname() */
  uint32_t era;                 /* index of the kernel era; sigframe_era_label() names it */
  uint64_t xcr0;                /* what the kernel writes to XCR0 (fpu_user_cfg.max_features) */
  uint32_t max_size;            /* fpu_user_cfg.max_size: the XSAVE image with every enabled component */
  uint32_t default_size;        /* fpu_user_cfg.default_size: without the permission-gated ones (AMX tiles) */
  uint32_t user_size;           /* this thread's image in its frames (fpstate->user_size) */
  uint32_t user_size_amx_used;  /* the same after its first AMX instruction; 0 where that cannot happen */
  uint32_t at_minsigstksz;      /* the kernel's AT_MINSIGSTKSZ (max_frame_size); before 5.14 the model's */
  uint32_t frame_size;          /* bytes the frame takes below a ${cConstants.DEFAULT_TOP_ALIGN}-aligned alt stack top (worst case) */
  uint32_t frame_size_any_top;  /* the same for any top address */
  uint32_t min_altstack;        /* smallest ss_size on which a signal is delivered now (${cConstants.DEFAULT_TOP_ALIGN}-aligned top) */
  uint32_t min_altstack_any_top;
  uint32_t min_altstack_amx_used; /* the same once the thread has used AMX; 0 where it cannot */
  uint32_t sigaltstack_min;     /* smallest ss_size sigaltstack() accepts now (ENOMEM below) */
  uint32_t allocate;            /* what to allocate, before the handler's own use: every state this thread can reach, any top */
  uint32_t overflow_check;      /* enum sigframe_overflow for this kind of frame */
};

/* sigframe_check_altstack() results. */
enum sigframe_check {
  SIGFRAME_CHECK_OK = 0,
  SIGFRAME_CHECK_ENOMEM = 1,            /* sigaltstack() refuses this size */
  SIGFRAME_CHECK_NO_ROOM = 2,           /* the frame does not fit below this top */
  SIGFRAME_CHECK_NO_ROOM_AFTER_AMX = 3  /* it fits now, not after the thread's first AMX instruction */
};

/* ---- tables, from layouts/ ------------------------------------------------------------ */

${constants()}
${abis}

${flagsTable()}

${xfeatureTable()}

${eraTable()}

${kindTable()}

/* ---- the model ------------------------------------------------------------------------ */

SIGFRAME__INTERNAL const struct sigframe_cpuid_leaf *sigframe__find(const struct sigframe_cpuid *c, uint32_t leaf,
                                                                  uint32_t subleaf) {
  uint32_t i, n = c->count < SIGFRAME_CPUID_MAX ? c->count : SIGFRAME_CPUID_MAX;
  for (i = 0; i < n; i++)
    if (c->leaf[i].leaf == leaf && c->leaf[i].subleaf == subleaf) return &c->leaf[i];
  return NULL;
}

SIGFRAME__INTERNAL uint32_t sigframe__reg(const struct sigframe_cpuid_leaf *r, unsigned reg) {
  return reg == 0 ? r->eax : reg == 1 ? r->ebx : reg == 2 ? r->ecx : r->edx;
}

#define SIGFRAME__BIT(m, nr) (((m) >> (nr)) & 1u)

/* A flag as the CPU reports it. */
SIGFRAME__INTERNAL int sigframe__raw_flag(const struct sigframe_cpuid *c, unsigned i) {
  const struct sigframe__field *d = &sigframe__fields[i];
  const struct sigframe_cpuid_leaf *r = sigframe__find(c, d->leaf, d->subleaf);
  return r && SIGFRAME__BIT(sigframe__reg(r, d->reg), d->bit);
}

/* effectiveFlags() (src/kernel/xstate.ts): the flags after the kernel's cpuid-deps pass. */
SIGFRAME__INTERNAL uint64_t sigframe__flags(const struct sigframe_cpuid *c) {
  uint64_t f = 0;
  unsigned i;
  int changed = 1;
  for (i = 0; i < SIGFRAME__NFLAGS; i++)
    if (sigframe__raw_flag(c, i)) f |= (uint64_t)1 << i;
  while (changed) {
    changed = 0;
    for (i = 0; i < SIGFRAME__NDEPS; i++) {
      uint64_t feature = (uint64_t)1 << sigframe__deps[i][0], needs = (uint64_t)1 << sigframe__deps[i][1];
      if ((f & feature) && !(f & needs)) {
        f &= ~feature;
        changed = 1;
      }
    }
  }
  return f;
}

SIGFRAME__INTERNAL uint64_t sigframe__xcr0_supported(const struct sigframe_cpuid *c) {
  const struct sigframe_cpuid_leaf *d0 = sigframe__find(c, 0xd, 0);
  return d0 ? d0->eax | (uint64_t)d0->edx << 32 : 0;
}

SIGFRAME__INTERNAL uint64_t sigframe__xss_supported(const struct sigframe_cpuid *c) {
  const struct sigframe_cpuid_leaf *d1 = sigframe__find(c, 0xd, 1);
  return d1 ? d1->ecx | (uint64_t)d1->edx << 32 : 0;
}

/*
 * xstateSize(standard) (src/xsave/layout.ts; xstate_calculate_size() in xstate.c): the area ends
 * where the component with the highest offset ends. -EINVAL when a component has no subleaf or
 * no standard offset.
 */
SIGFRAME__INTERNAL int sigframe__standard_size(const struct sigframe_cpuid *c, uint64_t mask, uint32_t *out) {
  uint64_t end = SIGFRAME__XSAVE_EXTENDED_START;
  unsigned nr;
  for (nr = SIGFRAME__FIRST_EXTENDED_XFEATURE; nr < 64; nr++) {
    const struct sigframe_cpuid_leaf *r;
    if (!SIGFRAME__BIT(mask, nr)) continue;
    r = sigframe__find(c, 0xd, nr);
    if (!r || SIGFRAME__BIT(r->ecx, SIGFRAME__D_N_ECX_SUPERVISOR)) return -EINVAL;
    if ((uint64_t)r->ebx + r->eax > end) end = (uint64_t)r->ebx + r->eax;
  }
  if (end > UINT32_MAX) return -EINVAL;
  *out = (uint32_t)end;
  return 0;
}

SIGFRAME__INTERNAL int sigframe__user_component(const struct sigframe_cpuid_leaf *r) {
  return r && !SIGFRAME__BIT(r->ecx, SIGFRAME__D_N_ECX_SUPERVISOR) && r->eax != 0;
}

/*
 * The consistency gate (src/profile/checks.ts requireConsistent(), from the kernel's own sanity
 * checks on leaf 0xD): a supported component of size 0, a user component inside the legacy
 * region and header, flagged as supervisor state, of another size than the architecture's or
 * overlapping another; then, for a recording (full = 1), the size fields: FP/SSE supported,
 * EBX/ECX at least the header, EBX within ECX, every component within ECX, ECX the size the
 * subleaves make, EBX the size of some XCR0. sigframe_sizes_now() asks only the first part, as
 * the TypeScript model does for the running machine: its kernel has judged the rest.
 */
SIGFRAME__INTERNAL int sigframe__consistent(const struct sigframe_cpuid *c, int full) {
  const struct sigframe_cpuid_leaf *d0 = sigframe__find(c, 0xd, 0);
  uint64_t xcr0s, supported;
  unsigned nr, m;
  int missing_user = 0, ebx_possible;
  uint32_t computed;
  if (!d0) return 0;
  xcr0s = sigframe__xcr0_supported(c);
  supported = xcr0s | sigframe__xss_supported(c);
  for (nr = SIGFRAME__FIRST_EXTENDED_XFEATURE; nr < 64; nr++) {
    const struct sigframe_cpuid_leaf *r;
    int supervisor;
    if (!SIGFRAME__BIT(supported, nr)) continue;
    r = sigframe__find(c, 0xd, nr);
    if (!r) {
      if (SIGFRAME__BIT(xcr0s, nr)) missing_user = 1;
      continue;
    }
    supervisor = (int)SIGFRAME__BIT(r->ecx, SIGFRAME__D_N_ECX_SUPERVISOR);
    if (r->eax == 0) return -EINVAL;
    if (!supervisor && r->ebx < SIGFRAME__XSAVE_EXTENDED_START) return -EINVAL;
    if (full && supervisor && SIGFRAME__BIT(xcr0s, nr)) return -EINVAL;
    if (full && nr < SIGFRAME__NXFEATURES && sigframe__xfeatures[nr].arch_size != 0 &&
        r->eax != sigframe__xfeatures[nr].arch_size)
      return -EINVAL;
    if (supervisor) continue;
    for (m = SIGFRAME__FIRST_EXTENDED_XFEATURE; m < nr; m++) {
      const struct sigframe_cpuid_leaf *q;
      if (!SIGFRAME__BIT(supported, m)) continue;
      q = sigframe__find(c, 0xd, m);
      if (!sigframe__user_component(q)) continue;
      if (r->ebx < (uint64_t)q->ebx + q->eax && q->ebx < (uint64_t)r->ebx + r->eax) return -EINVAL;
    }
  }
  if (!full || xcr0s == 0) return 0;
  if ((xcr0s & SIGFRAME__MASK_FPSSE) != SIGFRAME__MASK_FPSSE) return -EINVAL;
  if (d0->ebx < SIGFRAME__XSAVE_EXTENDED_START || d0->ecx < SIGFRAME__XSAVE_EXTENDED_START) return -EINVAL;
  if (d0->ebx > d0->ecx) return -EINVAL;
  for (nr = SIGFRAME__FIRST_EXTENDED_XFEATURE; nr < 64; nr++) {
    const struct sigframe_cpuid_leaf *r = sigframe__find(c, 0xd, nr);
    if (SIGFRAME__BIT(xcr0s, nr) && sigframe__user_component(r) && (uint64_t)r->ebx + r->eax > d0->ecx)
      return -EINVAL;
  }
  if (sigframe__standard_size(c, xcr0s & ~SIGFRAME__MASK_LWP, &computed) == 0 && computed != d0->ecx)
    return -EINVAL;
  if (missing_user) return 0;
  ebx_possible = d0->ebx == SIGFRAME__XSAVE_EXTENDED_START;
  for (nr = SIGFRAME__FIRST_EXTENDED_XFEATURE; nr < 64; nr++) {
    const struct sigframe_cpuid_leaf *r = sigframe__find(c, 0xd, nr);
    if (SIGFRAME__BIT(xcr0s, nr) && sigframe__user_component(r) && (uint64_t)r->ebx + r->eax == d0->ebx)
      ebx_possible = 1;
  }
  return ebx_possible ? 0 : -EINVAL;
}

/* What the kernel enables on a CPU: kernelXfeatures() (src/kernel/xstate.ts). */
struct sigframe__k {
  int xsave, fxsr;
  uint64_t xcr0, user_default;
  uint32_t max_size, default_size;
};

SIGFRAME__INTERNAL int sigframe__kernel(const struct sigframe_cpuid *c, const struct sigframe__era *era, int bits32,
                                        struct sigframe__k *k) {
  uint64_t f = sigframe__flags(c), xcr0s = sigframe__xcr0_supported(c), xcr0 = 0;
  uint64_t supported = xcr0s | sigframe__xss_supported(c);
  unsigned nr;
  int rc;
  k->fxsr = (int)SIGFRAME__BIT(f, ${flagEnum('fxsr')});
  k->xsave = 0;
  k->xcr0 = k->user_default = 0;
  /* fpu__init_system_xstate() failing leaves the legacy sizes: FXSAVE's, or struct fregs_state. */
  k->max_size = k->default_size = k->fxsr ? SIGFRAME__FXSAVE_SIZE : SIGFRAME__FREGS_STATE_SIZE;
  if (!SIGFRAME__BIT(f, ${flagEnum('fpu')}) || !SIGFRAME__BIT(f, ${flagEnum('xsave')})) return 0;
  if ((supported & SIGFRAME__MASK_FPSSE) != SIGFRAME__MASK_FPSSE) return 0;
  if (era->apx_mpx_conflict && SIGFRAME__BIT(supported, SIGFRAME__XFEATURE_APX) && (supported & SIGFRAME__MASK_MPX))
    return 0;
  for (nr = SIGFRAME__XFEATURE_FP; nr < 64; nr++) {
    const struct sigframe__xfeature *x;
    if (!SIGFRAME__BIT(xcr0s, nr) || nr >= SIGFRAME__NXFEATURES) continue;
    x = &sigframe__xfeatures[nr];
    if (x->gate < 0 || !SIGFRAME__BIT(f, (unsigned)x->gate)) continue;
    if (!SIGFRAME__BIT(era->user_supported, nr)) continue;
    if (bits32 && x->kernel64_only) continue;
    if (SIGFRAME__BIT(era->user_dynamic, nr) && !SIGFRAME__BIT(f, ${flagEnum('xfd')})) continue;
    xcr0 |= (uint64_t)1 << nr;
  }
  k->xsave = 1;
  k->xcr0 = xcr0;
  k->user_default = xcr0 & ~era->user_dynamic;
  rc = sigframe__standard_size(c, xcr0, &k->max_size);
  if (rc == 0) rc = sigframe__standard_size(c, k->user_default, &k->default_size);
  return rc;
}

/* The frame's distance below the stack top: frameGeometry() and fpu__alloc_mathframe(). */
SIGFRAME__INTERNAL uint64_t sigframe__below_top(const struct sigframe__kind *kd, uint64_t top, uint32_t user_size,
                                                int xsave, int fxsr, int bits32) {
  uint64_t image = (uint64_t)user_size + (xsave ? SIGFRAME__FP_XSTATE_MAGIC2_SIZE : 0);
  uint64_t buf_fx = (top - image) & ~(uint64_t)(SIGFRAME__XSAVE_ALIGNMENT - 1);
  uint64_t fpstate = buf_fx - (kd->fsave_header && fxsr ? SIGFRAME__FREGS_STATE_SIZE : 0);
  uint64_t below = fpstate - (bits32 ? kd->size32 : kd->size64);
  uint64_t frame = ((below + kd->entry_add) & ~(uint64_t)(SIGFRAME__FRAME_ALIGNMENT - 1)) - kd->entry_sub;
  return top - frame;
}

/* frameFit(): the most bytes below a top aligned to top_align; only the residue modulo 64 matters. */
SIGFRAME__INTERNAL uint32_t sigframe__fit(const struct sigframe__kind *kd, uint32_t top_align, uint32_t user_size,
                                          int xsave, int fxsr, int bits32) {
  uint32_t step = top_align < SIGFRAME__XSAVE_ALIGNMENT ? top_align : SIGFRAME__XSAVE_ALIGNMENT, r;
  uint64_t worst = 0, base = (uint64_t)1 << 32;
  for (r = 0; r < SIGFRAME__XSAVE_ALIGNMENT; r += step) {
    uint64_t b = sigframe__below_top(kd, base + r, user_size, xsave, fxsr, bits32);
    if (b > worst) worst = b;
  }
  return (uint32_t)worst;
}

/* The kernel a version belongs to: eraFor(); 0 is the newest. NULL before the first era. */
SIGFRAME__INTERNAL const struct sigframe__era *sigframe__era_for(uint32_t version) {
  int i;
  if (version == 0) return &sigframe__eras[SIGFRAME__NERAS - 1];
  for (i = SIGFRAME__NERAS - 1; i >= 0; i--)
    if (version >= sigframe__eras[i].since) return &sigframe__eras[i];
  return NULL;
}

/* One AMX state's numbers: taskFpu(), minAltstack() and sigaltstackMinAccepted() (src/kernel/). */
struct sigframe__state { uint32_t user_size, below_aligned, below_any, sas_min, min_aligned, min_any; };

SIGFRAME__INTERNAL void sigframe__state(const struct sigframe__kind *kd, const struct sigframe__k *k,
                                        const struct sigframe__era *era, int bits32, int strict, uint32_t max_frame,
                                        uint32_t fpstate_size, unsigned amx, struct sigframe__state *s) {
  int permitted = amx != ${amxFlag('none')};
  uint32_t perm_user_size = permitted ? k->max_size : k->default_size;
  s->user_size = amx == ${amxFlag('used')} ? k->max_size : k->default_size;
  s->below_aligned = sigframe__fit(kd, SIGFRAME__DEFAULT_TOP_ALIGN, s->user_size, k->xsave, k->fxsr, bits32);
  s->below_any = sigframe__fit(kd, 1, s->user_size, k->xsave, k->fxsr, bits32);
  /* do_sigaltstack() and sigaltstack_size_valid(): MINSIGSTKSZ, or more once dynamic features are permitted. */
  s->sas_min = SIGFRAME__MINSIGSTKSZ;
  if (era->sigaltstack_validation && ((k->xcr0 & era->user_dynamic) != 0 || strict) && (strict || permitted)) {
    uint32_t fsize = max_frame - fpstate_size + perm_user_size;
    if (fsize + 1 > SIGFRAME__MINSIGSTKSZ) s->sas_min = fsize + 1;
  }
  s->min_aligned = s->below_aligned + 1 > s->sas_min ? s->below_aligned + 1 : s->sas_min;
  s->min_any = s->below_any + 1 > s->sas_min ? s->below_any + 1 : s->sas_min;
}

SIGFRAME__INTERNAL int sigframe__sizes(const struct sigframe_cpuid *c, const struct sigframe__era *era,
                                       uint32_t version, uint32_t flags, int full, struct sigframe_sizes *out) {
  struct sigframe_sizes s;
  struct sigframe__k k;
  struct sigframe__state now, used;
  const struct sigframe__kind *kd;
  unsigned kind = flags & SIGFRAME_KIND_MASK, amx = flags & SIGFRAME_AMX_MASK;
  int bits32 = (flags & SIGFRAME_KERNEL_32BIT) != 0, strict = (flags & SIGFRAME_STRICT_SAS_SIZE) != 0;
  int ia32 = bits32 || !(flags & SIGFRAME_NO_IA32_EMULATION), used_possible;
  uint32_t fpstate_size, max_frame, hdr;
  uint64_t dynamic;
  int rc;
  if (kind >= SIGFRAME_KIND_COUNT || amx > ${amxFlag('used')}) return -EINVAL;
  kd = &sigframe__kinds[kind];
  /* checkTargetConfig(): an i386 kernel runs ia32 only; ia32 frames need IA32_EMULATION. */
  if (bits32 && kd->abi != SIGFRAME__ABI_IA32) return -EINVAL;
  if (kd->abi == SIGFRAME__ABI_IA32 && !ia32) return -EINVAL;
  rc = sigframe__consistent(c, full);
  if (rc) return rc;
  rc = sigframe__kernel(c, era, bits32, &k);
  if (rc) return rc;
  /* An x86-64 kernel requires FXSR. */
  if (!k.xsave && !k.fxsr && !bits32) return -EINVAL;
  /* amxImpossible() (src/kernel/task.ts): AMX needs a dynamic feature; ia32 code cannot use tiles. */
  dynamic = k.xcr0 & era->user_dynamic;
  used_possible = dynamic != 0 && kd->abi != SIGFRAME__ABI_IA32;
  if (amx != ${amxFlag('none')} && dynamic == 0) return -EOPNOTSUPP;
  if (amx == ${amxFlag('used')} && !used_possible) return -EOPNOTSUPP;
  /* fpu__get_fpstate_size() and init_sigframe_size() (arch/x86/kernel/signal.c): max_frame_size. */
  fpstate_size = k.max_size + (k.xsave ? SIGFRAME__FP_XSTATE_MAGIC2_SIZE : 0) +
                 (ia32 && k.fxsr ? SIGFRAME__FREGS_STATE_SIZE : 0);
  hdr = !ia32 ? SIGFRAME__MAX_FRAME_SIGINFO_UCTXT_64
        : bits32 ? SIGFRAME__MAX_FRAME_SIGINFO_UCTXT_32
                 : SIGFRAME__MAX_FRAME_SIGINFO_UCTXT_64_IA32;
  max_frame = (hdr + (SIGFRAME__FRAME_ALIGNMENT - 1) + fpstate_size + (SIGFRAME__XSAVE_ALIGNMENT - 1) +
               (SIGFRAME__FRAME_ALIGNMENT - 1)) & ~(SIGFRAME__FRAME_ALIGNMENT - 1);
  sigframe__state(kd, &k, era, bits32, strict, max_frame, fpstate_size, amx, &now);
  if (used_possible)
    sigframe__state(kd, &k, era, bits32, strict, max_frame, fpstate_size, ${amxFlag('used')}, &used);
  s.flags = (flags & SIGFRAME_IN_FLAGS) | (era->at_minsigstksz ? 0 : SIGFRAME_AT_ESTIMATED) |
            (k.xsave ? SIGFRAME_XSAVE : 0) | (k.fxsr ? SIGFRAME_FXSR : 0) | (used_possible ? SIGFRAME_AMX_POSSIBLE : 0);
  s.kernel_version = version;
  s.era = (uint32_t)(era - sigframe__eras);
  s.xcr0 = k.xcr0;
  s.max_size = k.max_size;
  s.default_size = k.default_size;
  s.user_size = now.user_size;
  s.user_size_amx_used = used_possible ? used.user_size : 0;
  s.at_minsigstksz = max_frame;
  s.frame_size = now.below_aligned;
  s.frame_size_any_top = now.below_any;
  s.min_altstack = now.min_aligned;
  s.min_altstack_any_top = now.min_any;
  s.min_altstack_amx_used = used_possible ? used.min_aligned : 0;
  s.sigaltstack_min = now.sas_min;
  /* A thread with permission may use AMX at any moment: allocate for both. */
  s.allocate = amx == ${amxFlag('permitted')} && used_possible && used.min_any > now.min_any ? used.min_any : now.min_any;
  s.overflow_check = bits32 || kd->abi != SIGFRAME__ABI_IA32 ? era->overflow_native : era->overflow_compat;
  *out = s;
  return 0;
}

/*
 * The sizes for a recorded CPU, a kernel version (SIGFRAME_KERNEL_VERSION; 0 = the newest era)
 * and flags (a SIGFRAME_KIND_*, a SIGFRAME_AMX_* state, the kernel's build). Returns 0; -EINVAL
 * for a bad argument, a kernel older than sigframe's first era or inconsistent CPUID;
 * -EOPNOTSUPP for an AMX state this CPU, kernel and ABI cannot reach. *out is written on 0 only.
 */
SIGFRAME_API int sigframe_sizes_for(const struct sigframe_cpuid *cpuid, unsigned kernel_version, unsigned flags,
                                    struct sigframe_sizes *out) {
  const struct sigframe__era *era;
  if (!cpuid || !out || (flags & ~SIGFRAME_IN_FLAGS)) return -EINVAL;
  era = sigframe__era_for(kernel_version);
  if (!era) return -EINVAL;
  return sigframe__sizes(cpuid, era, kernel_version, flags, 1, out);
}

/* The era's name, e.g. "6.16 and later". */
SIGFRAME_API const char *sigframe_era_label(const struct sigframe_sizes *s) {
  return s && s->era < SIGFRAME__NERAS ? sigframe__eras[s->era].label : "unknown";
}

/*
 * Whether the alt stack [ss_sp, ss_sp + ss_size) serves the thread the sizes are for: whether
 * sigaltstack() accepts it and the frame fits below its very top, now and (with AMX permission)
 * after the thread's first AMX instruction. SIGFRAME_CHECK_OK or a reason; see sigframe_check_message().
 */
SIGFRAME_API int sigframe_check_altstack(const struct sigframe_sizes *s, const void *ss_sp, size_t ss_size) {
  const struct sigframe__kind *kd;
  uint64_t top;
  int xsave, fxsr, bits32;
  if (!s || (s->flags & SIGFRAME_KIND_MASK) >= SIGFRAME_KIND_COUNT) return SIGFRAME_CHECK_NO_ROOM;
  kd = &sigframe__kinds[s->flags & SIGFRAME_KIND_MASK];
  top = (uint64_t)(uintptr_t)ss_sp + ss_size;
  xsave = (s->flags & SIGFRAME_XSAVE) != 0;
  fxsr = (s->flags & SIGFRAME_FXSR) != 0;
  bits32 = (s->flags & SIGFRAME_KERNEL_32BIT) != 0;
  if (ss_size < s->sigaltstack_min) return SIGFRAME_CHECK_ENOMEM;
  /* __on_sig_stack(): the frame must start above ss_sp. */
  if (sigframe__below_top(kd, top, s->user_size, xsave, fxsr, bits32) >= ss_size) return SIGFRAME_CHECK_NO_ROOM;
  if ((s->flags & SIGFRAME_AMX_MASK) == ${amxFlag('permitted')} && s->user_size_amx_used != 0 &&
      sigframe__below_top(kd, top, s->user_size_amx_used, xsave, fxsr, bits32) >= ss_size)
    return SIGFRAME_CHECK_NO_ROOM_AFTER_AMX;
  return SIGFRAME_CHECK_OK;
}

SIGFRAME_API const char *sigframe_check_message(int check) {
  switch (check) {
  case SIGFRAME_CHECK_OK: return "the alt stack holds the signal frame";
  case SIGFRAME_CHECK_ENOMEM: return "sigaltstack() refuses this size (ENOMEM): below MINSIGSTKSZ, or below what AMX permission requires";
  case SIGFRAME_CHECK_NO_ROOM: return "the signal frame does not fit below this stack's top: delivery ends in SIGSEGV, or overwrites memory below ss_sp on kernels without the overflow check";
  case SIGFRAME_CHECK_NO_ROOM_AFTER_AMX: return "the frame fits now, but not after this thread's first AMX instruction enlarges it";
  default: return "unknown check result";
  }
}

/*
 * Parses a uname -r release (6.18.44-generic, 6.19-rc6, 5.15.153.1-microsoft-standard-WSL2) into
 * SIGFRAME_KERNEL_VERSION form: 0, or -EINVAL unless it starts MAJOR.MINOR.
 */
SIGFRAME_API int sigframe_parse_kernel_version(const char *release, unsigned *out) {
  unsigned v[3] = {0, 0, 0};
  int i = 0;
  if (!release || !out) return -EINVAL;
  for (;;) {
    unsigned n = 0, digits = 0;
    while (*release >= '0' && *release <= '9') {
      n = n * 10 + (unsigned)(*release - '0');
      release++;
      if (++digits > 6) return -EINVAL;
    }
    if (digits == 0) return -EINVAL;
    v[i++] = n;
    if (i < 3 && release[0] == '.' && release[1] >= '0' && release[1] <= '9') {
      release++;
      continue;
    }
    break;
  }
  if (i < 2 || v[0] > 255 || v[1] > 255) return -EINVAL;
  *out = SIGFRAME_KERNEL_VERSION(v[0], v[1], v[2]);
  return 0;
}

#if SIGFRAME_HAVE_NOW
/* The CPUID records the model reads, from the CPU this runs on. Returns the number of records. */
SIGFRAME_API int sigframe_cpuid_read(struct sigframe_cpuid *out) {
  unsigned max_basic, max_ext, i, a, b, c, d;
  uint64_t supported = 0;
  if (!out) return -EINVAL;
  out->count = 0;
  max_basic = __get_cpuid_max(0, NULL);
  max_ext = __get_cpuid_max(0x80000000u, NULL);
  for (i = 0; i < SIGFRAME__NLEAVES; i++) {
    uint32_t leaf = sigframe__leaves[i][0], sub = sigframe__leaves[i][1];
    struct sigframe_cpuid_leaf *r;
    if (leaf >= 0x80000000u ? leaf > max_ext : leaf > max_basic) continue;
    __cpuid_count(leaf, sub, a, b, c, d);
    r = &out->leaf[out->count++];
    r->leaf = leaf, r->subleaf = sub, r->eax = a, r->ebx = b, r->ecx = c, r->edx = d;
  }
  if (max_basic >= 0xd) supported = sigframe__xcr0_supported(out) | sigframe__xss_supported(out);
  for (i = SIGFRAME__FIRST_EXTENDED_XFEATURE; i < 64 && out->count < SIGFRAME_CPUID_MAX; i++) {
    struct sigframe_cpuid_leaf *r;
    if (!SIGFRAME__BIT(supported, i)) continue;
    __cpuid_count(0xd, i, a, b, c, d);
    r = &out->leaf[out->count++];
    r->leaf = 0xd, r->subleaf = i, r->eax = a, r->ebx = b, r->ecx = c, r->edx = d;
  }
  return (int)out->count;
}

SIGFRAME__INTERNAL uint64_t sigframe__xgetbv(uint32_t index) {
  uint32_t lo, hi;
  __asm__ __volatile__(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(index));
  return lo | (uint64_t)hi << 32;
}

/*
 * arch_prctl(ARCH_GET_XCOMP_PERM) as a raw system call: no libc wrapper exists for it. 32-bit
 * processes reach the same do_arch_prctl_common() (arch/x86/kernel/process.c) through the compat
 * entry (process_64.c) or i386's own (process_32.c); before 5.16 it answers -EINVAL: no permission.
 */
SIGFRAME__INTERNAL long sigframe__get_xcomp_perm(uint64_t *perm) {
  long ret;
#if defined(__x86_64__)
#if defined(__ILP32__)
  long nr = 0x40000000L + 158; /* __X32_SYSCALL_BIT | __NR_arch_prctl */
#else
  long nr = 158; /* __NR_arch_prctl */
#endif
  __asm__ __volatile__("syscall"
                       : "=a"(ret)
                       : "0"(nr), "D"((long)SIGFRAME__ARCH_GET_XCOMP_PERM), "S"(perm)
                       : "rcx", "r11", "memory");
#else
  __asm__ __volatile__("int $0x80" : "=a"(ret) : "0"(384L), "b"((long)SIGFRAME__ARCH_GET_XCOMP_PERM), "c"(perm)
                       : "memory");
#endif
  return ret;
}

/*
 * The sizes for the calling thread on the running CPU and kernel, for its handlers' frames (in a
 * 32-bit process the larger, legacy one, so both SA_SIGINFO and plain handlers fit): the model, checked against
 * what the running system says (XCR0 by XGETBV, AT_MINSIGSTKSZ from the aux vector), which also
 * tells the kernel's build (IA32 emulation, i386). The thread's AMX state: the process's
 * permission (ARCH_GET_XCOMP_PERM), and 'used' when XINUSE shows tile data; a thread whose tiles
 * are back in INIT reads as 'permitted', which \`allocate\` covers. Returns 0; -EPROTO when the
 * release string cannot be read or the running system disagrees with every configuration of
 * the model (a kernel sigframe does not know); -EINVAL for a kernel older than its first era.
 */
SIGFRAME_API int sigframe_sizes_now(struct sigframe_sizes *out) {
  static const unsigned configs[3] = {0, SIGFRAME_NO_IA32_EMULATION, SIGFRAME_KERNEL_32BIT};
  struct sigframe_cpuid c;
  struct sigframe_sizes s;
  struct utsname u;
  const struct sigframe__era *era;
  uint64_t perm = 0, xcr0 = 0, xinuse = 0;
  unsigned version, kind, amx, i;
  unsigned long aux;
  if (!out) return -EINVAL;
#if defined(__x86_64__) && defined(__ILP32__)
  kind = ${kindEnum('x32')};
#elif defined(__x86_64__)
  kind = ${kindEnum('x86_64')};
#else
  /* The legacy frame (no SA_SIGINFO) is the larger one: it embeds the unused 624-byte _fpstate_32. */
  kind = ${kindEnum('ia32')};
#endif
  sigframe_cpuid_read(&c);
  if (uname(&u) != 0 || sigframe_parse_kernel_version(u.release, &version) != 0) return -EPROTO;
  era = sigframe__era_for(version);
  if (!era) return -EINVAL;
  /* CPUID.1:ECX.OSXSAVE is live: the kernel has set CR4.OSXSAVE, so XGETBV works. */
  if (sigframe__raw_flag(&c, ${flagEnum('osxsave')})) {
    xcr0 = sigframe__xgetbv(0);
    if (SIGFRAME__BIT(sigframe__flags(&c), ${flagEnum('xgetbv1')})) xinuse = sigframe__xgetbv(1);
  }
  if (sigframe__get_xcomp_perm(&perm) != 0) perm = 0;
  amx = !SIGFRAME__BIT(perm, SIGFRAME__XFEATURE_XTILE_DATA) ? ${amxFlag('none')}
        : SIGFRAME__BIT(xinuse, SIGFRAME__XFEATURE_XTILE_DATA) ? ${amxFlag('used')}
                                                               : ${amxFlag('permitted')};
  aux = getauxval(SIGFRAME__AT_MINSIGSTKSZ);
  for (i = 0; i < 3; i++) {
    if (sigframe__sizes(&c, era, version, kind | amx | configs[i], 0, &s) != 0) continue;
    if (s.xcr0 != xcr0) continue;
    if (era->at_minsigstksz) {
      if (aux != s.at_minsigstksz) continue;
      s.flags |= SIGFRAME_AT_FROM_KERNEL;
    }
    *out = s;
    return 0;
  }
  return -EPROTO;
}
#endif

#endif /* SIGFRAME_H */
`;
}
