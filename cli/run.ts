import { SigframeError } from '../src/schema/errors.js';
import { jsonMode, printed, setJsonMode, toJson } from './output.js';

/**
 * Exit codes: 0 ok, 1 a check failed (the model and the kernel disagree, an incompatibility), 2
 * bad input or usage (including a host that cannot do what was asked). Anything else is a bug in
 * sigframe: 70, with the message and, only under SIGFRAME_DEBUG=1, the trace.
 *
 * Every error is one line on stderr, `sigframe: …`. Under --json stdout also gets one JSON object,
 * `{"error": message, "path"?, "offset"?}`, unless the command already printed its object, so a
 * program reading stdout always gets exactly one JSON object, whatever the exit code.
 */
export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_BAD_INPUT = 2;
export const EXIT_INTERNAL = 70;

/** One line: messages that span lines (yargs' "Invalid values:\n  Argument: …") are joined. */
const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

function errorJson(message: string, where: { path?: string; offset?: number } = {}): void {
  if (!jsonMode() || printed()) return;
  process.stdout.write(
    `${toJson({
      error: message,
      ...(where.path === undefined ? {} : { path: where.path }),
      ...(where.offset === undefined ? {} : { offset: where.offset }),
    })}\n`,
  );
}

export function reportError(e: unknown): number {
  if (e instanceof SigframeError) {
    const message = oneLine(e.message);
    process.stderr.write(`sigframe: ${message}\n`);
    errorJson(message, e.where);
    return EXIT_BAD_INPUT;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const message = oneLine(err.message);
  process.stderr.write(
    `sigframe: internal error: ${message}\n${process.env.SIGFRAME_DEBUG ? `${err.stack}\n` : '(set SIGFRAME_DEBUG=1 for a trace; please report it)\n'}`,
  );
  errorJson(`internal error: ${message}`);
  return EXIT_INTERNAL;
}

/** A usage mistake yargs found (unknown option, missing argument, bad choice): exit 2, one line. */
export function reportUsage(msg: string): number {
  const message = oneLine(msg);
  const stop = /[.?!]$/.test(message) ? '' : '.';
  process.stderr.write(`sigframe: ${message}${stop} Run 'sigframe --help' for usage.\n`);
  errorJson(message);
  return EXIT_BAD_INPUT;
}

/** What every command's arguments have: --json, and maybe --kernel. */
interface RunArgs {
  readonly json?: boolean;
  readonly kernel?: unknown;
  readonly [key: string]: unknown;
}

/** Options that take a list; any other option given twice is refused rather than half-read. */
const LISTS = new Set(['_', 'runs']);

/** What every command checks before its body: an option given twice, and --kernel's version. */
async function checkCommon(argv: RunArgs): Promise<void> {
  const { InputError } = await import('../src/schema/errors.js');
  for (const [key, value] of Object.entries(argv)) {
    if (LISTS.has(key) || /[A-Z]/.test(key) || !Array.isArray(value)) continue;
    throw new InputError(`--${key} given ${value.length} times (${value.join(', ')}): give it once`, {
      path: key,
    });
  }
  if (typeof argv.kernel === 'string') {
    const { parseKernelVersion } = await import('../src/kernel/eras.js');
    try {
      parseKernelVersion(argv.kernel);
    } catch (e) {
      if (e instanceof SigframeError) throw new InputError(`--kernel: ${e.message}`, { path: 'kernel' });
      throw e;
    }
  }
}

/** Runs a command body and turns its outcome into process.exitCode. */
export async function run(argv: RunArgs, body: () => Promise<number> | number): Promise<void> {
  setJsonMode(argv.json === true);
  try {
    await checkCommon(argv);
    process.exitCode = await body();
  } catch (e) {
    process.exitCode = reportError(e);
  }
}
