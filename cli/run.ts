import { SigframeError } from '../src/schema/errors.js';

/**
 * Exit codes: 0 ok, 1 a check failed (the model and the kernel disagree, an incompatibility), 2
 * bad input or usage (including a host that cannot do what was asked). Anything else is a bug in
 * sigframe: 70, with the message and, only under SIGFRAME_DEBUG=1, the trace.
 */
export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 70;

export function reportError(e: unknown): number {
  if (e instanceof SigframeError) {
    process.stderr.write(`sigframe: ${e.message}\n`);
    return EXIT_BAD_INPUT;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(
    `sigframe: internal error: ${err.message}\n${process.env.SIGFRAME_DEBUG ? `${err.stack}\n` : '(set SIGFRAME_DEBUG=1 for a trace; please report it)\n'}`,
  );
  return EXIT_INTERNAL;
}

/** Runs a command body and turns its outcome into process.exitCode. */
export async function run(body: () => Promise<number> | number): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
