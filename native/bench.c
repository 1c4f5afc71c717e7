/*
 * sigframe benchmark reference: what C code that knows the frame layout at compile time does with
 * the same frames. decode: read them by struct cast and extract the fields sigframe's reader hands
 * out (every sigcontext member, sw_reserved, XSTATE_BV, where each component in use is) — once
 * trusting the frame, as a signal handler may, and once with the checks sigframe's reader makes on
 * an input it did not write (fpstate, the XSAVE header and each component inside the buffer).
 * build: write a frame from those fields (the FP image, header, sw_reserved, MAGIC2, sigcontext).
 * Usage: bench SECONDS FRAME.bin ADDRESS SIGCONTEXT_OFFSET NR:OFFSET:SIZE... (sigcontext's offset
 * in rt_sigframe, from sigframe's schema: the struct is kernel-internal; the task's components,
 * offsets from buf_fx); prints JSON.
 */
#include <asm/sigcontext.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Image offsets from the uapi structs: sw_reserved, the XSAVE header, the extended area. */
#define SW offsetof(struct _fpstate_64, sw_reserved)
#define HDR sizeof(struct _fpstate_64)
#define EXT (HDR + sizeof(struct _header))

/* CPU time, as the JS side measures: on a shared machine wall time counts other processes' turns. */
static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct component {
	unsigned nr;
	size_t offset, size;
};

static uint64_t fields(const struct sigcontext_64 *sc)
{
	return sc->r8 ^ sc->r9 ^ sc->r10 ^ sc->r11 ^ sc->r12 ^ sc->r13 ^ sc->r14 ^ sc->r15 ^ sc->di ^ sc->si ^
	       sc->bp ^ sc->bx ^ sc->dx ^ sc->ax ^ sc->cx ^ sc->sp ^ sc->ip ^ sc->flags ^ sc->cs ^ sc->gs ^
	       sc->fs ^ sc->ss ^ sc->err ^ sc->trapno ^ sc->oldmask ^ sc->cr2 ^ sc->fpstate;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	double seconds = atof(argv[1]);
	FILE *f = fopen(argv[2], "rb");
	if (!f)
		return 2;
	static unsigned char frame[1 << 16], out[1 << 16];
	size_t n = fread(frame, 1, sizeof frame, f);
	fclose(f);
	uint64_t address = strtoull(argv[3], NULL, 0);
	size_t sc_offset = strtoul(argv[4], NULL, 0);
	int ncomp = argc - 5;
	struct component comp[64];
	for (int i = 0; i < ncomp && i < 64; i++) {
		char *end;
		comp[i].nr = strtoul(argv[5 + i], &end, 0);
		comp[i].offset = strtoul(end + 1, &end, 0);
		comp[i].size = strtoul(end + 1, NULL, 0);
	}
	size_t fp = ((const struct sigcontext_64 *)(frame + sc_offset))->fpstate - address;
	volatile uint64_t sink = 0;

	/* decode, trusting the frame: struct casts and nothing else */
	long frames = 0;
	double t0 = now(), t1;
	do {
		for (int r = 0; r < 10000; r++) {
			const unsigned char *p = frame;
			/* Hide the frame from the optimiser: every iteration reads memory, as for a new frame. */
			__asm__ volatile("" : "+r"(p) : : "memory");
			uint64_t acc = fields((const void *)(p + sc_offset));
			const unsigned char *x = p + fp;
			const struct _fpx_sw_bytes *sw = (const void *)(x + offsetof(struct _fpstate_64, sw_reserved));
			uint64_t bv = ((const struct _header *)(x + sizeof(struct _fpstate_64)))->xfeatures;
			acc ^= sw->magic1 ^ sw->extended_size ^ sw->xfeatures ^ sw->xstate_size ^ bv;
			for (int i = 0; i < ncomp; i++)
				if (bv >> comp[i].nr & 1)
					acc ^= (uintptr_t)(x + comp[i].offset);
			sink ^= acc;
		}
		frames += 10000;
		t1 = now();
	} while (t1 - t0 < seconds);
	double decode = frames / (t1 - t0);

	/* decode with the reader's checks: every offset against the buffer before it is used */
	frames = 0;
	t0 = now();
	do {
		for (int r = 0; r < 10000; r++) {
			const unsigned char *p = frame;
			size_t len = n;
			__asm__ volatile("" : "+r"(p), "+r"(len) : : "memory");
			if (len < sc_offset + sizeof(struct sigcontext_64))
				abort();
			const struct sigcontext_64 *sc = (const void *)(p + sc_offset);
			uint64_t acc = fields(sc);
			if (sc->fpstate) {
				uint64_t fx = sc->fpstate - address;
				if (fx > len || len - fx < sizeof(struct _fpstate_64))
					abort();
				const unsigned char *x = p + fx;
				const struct _fpx_sw_bytes *sw = (const void *)(x + offsetof(struct _fpstate_64, sw_reserved));
				acc ^= sw->magic1 ^ sw->extended_size ^ sw->xfeatures ^ sw->xstate_size;
				if (sw->magic1 == FP_XSTATE_MAGIC1) {
					if (len - fx < sizeof(struct _fpstate_64) + sizeof(struct _header))
						abort();
					uint64_t bv = ((const struct _header *)(x + sizeof(struct _fpstate_64)))->xfeatures;
					acc ^= bv;
					for (int i = 0; i < ncomp; i++)
						if (bv >> comp[i].nr & 1) {
							if (len - fx < comp[i].offset + comp[i].size)
								abort();
							acc ^= (uintptr_t)(x + comp[i].offset);
						}
				}
			}
			sink ^= acc;
		}
		frames += 10000;
		t1 = now();
	} while (t1 - t0 < seconds);
	double checked = frames / (t1 - t0);

	/* build: the FP image, a zeroed header, sw_reserved, XSTATE_BV, MAGIC2 and the sigcontext */
	uint32_t user_size = ((const struct _fpx_sw_bytes *)(frame + fp + offsetof(struct _fpstate_64, sw_reserved)))->xstate_size;
	frames = 0;
	t0 = now();
	do {
		for (int r = 0; r < 1000; r++) {
			__asm__ volatile("" : : : "memory");
			memcpy(out + fp, frame + fp, SW);
			memcpy(out + fp + SW, frame + fp + SW, sizeof(struct _fpx_sw_bytes));
			memset(out + fp + HDR, 0, sizeof(struct _header));
			memcpy(out + fp + HDR, frame + fp + HDR, 8);
			memcpy(out + fp + EXT, frame + fp + EXT, user_size - EXT);
			memcpy(out + fp + user_size, frame + fp + user_size, 4);
			memcpy(out, frame, fp < n ? fp : n);
			sink ^= out[r % 64];
		}
		frames += 1000;
		t1 = now();
	} while (t1 - t0 < seconds);
	double build = frames / (t1 - t0);
	printf("{\"decode_per_s\": %.0f, \"checked_decode_per_s\": %.0f, \"build_per_s\": %.0f, \"sink\": %llu}\n",
	       decode, checked, build, (unsigned long long)(sink & 1));
	return 0;
}
