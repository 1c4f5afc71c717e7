import { closeSync, openSync, readSync } from 'node:fs';
import type { Argv, Options } from 'yargs';
import type { KernelConfig } from '../../src/kernel/xstate.js';

/** Options several commands share, declared once. */
export const profileOption = {
  type: 'string',
  requiresArg: true,
  // No yargs default: a command must tell a given --profile from none, to refuse it where it does
  // not apply (size --all, layout --struct).
  defaultDescription: 'host',
  describe:
    'CPU: a shipped profile name (see `sigframe profiles`), a profile or raw CPUID dump file, or "host"',
} as const satisfies Options;

export const kernelOption = {
  type: 'string',
  requiresArg: true,
  describe:
    'kernel version, e.g. 6.1 or 6.18.44 (default: the running kernel for the host, else the newest era)',
} as const satisfies Options;

export const kernelBitsOption = {
  choices: [64, 32] as const,
  default: 64 as const,
  describe: 'the kernel is 64-bit, or an i386 kernel',
} as const satisfies Options;

/** The kernel a command models, as every command takes it: version and configuration. */
export function kernelOptions<T>(y: Argv<T>) {
  return y
    .option('kernel', kernelOption)
    .option('kernel-bits', kernelBitsOption)
    .option('ia32-emulation', {
      choices: ['on', 'off'] as const,
      describe: 'CONFIG_IA32_EMULATION of a 64-bit kernel (default: as the host has it, else on)',
    })
    .option('strict-sas-size', {
      type: 'boolean',
      describe:
        'the kernel is built with CONFIG_STRICT_SIGALTSTACK_SIZE (default: as the host has it, else off)',
    });
}

export interface KernelArgs {
  readonly kernel?: string;
  readonly kernelBits: 64 | 32;
  readonly ia32Emulation?: 'on' | 'off';
  readonly strictSasSize?: boolean;
}

/** The configuration the options ask for; left-out settings are undefined (the host's, or the default). */
export function askedConfig(a: KernelArgs): {
  bits: 64 | 32;
  ia32Emulation?: boolean;
  strictSasSize?: boolean;
} {
  return {
    bits: a.kernelBits,
    ...(a.ia32Emulation === undefined ? {} : { ia32Emulation: a.ia32Emulation === 'on' }),
    ...(a.strictSasSize === undefined ? {} : { strictSasSize: a.strictSasSize }),
  };
}

/** The configuration to model where nothing is live: what was asked, else a distribution kernel's. */
export function kernelConfig(a: KernelArgs): Required<KernelConfig> {
  const c = askedConfig(a);
  return { bits: c.bits, ia32Emulation: c.ia32Emulation ?? true, strictSasSize: c.strictSasSize ?? false };
}

export interface GlobalArgs {
  readonly json?: boolean;
}

/** Loads the profile a command asked for, with the kernel to reason about; errors name `option`. */
export async function selectTarget(profileSpec: string, kernelArg: string | undefined, option = '--profile') {
  const { profileTarget } = await import('../../src/io/profiles.js');
  return naming(option, () => profileTarget(profileSpec, kernelArg));
}

/** A profile option (--profile, --from, --to, --input) loaded; errors name the option. */
export async function profileFor(spec: string, option: string) {
  const { loadProfile } = await import('../../src/io/profiles.js');
  return naming(option, () => loadProfile(spec));
}

/**
 * Runs `f`; an input error it raises is said again with the option in front (`--to: unknown profile
 * 'x'`), so that the user knows which of several options was wrong. `only` limits that to errors
 * located at that path (loadFrame's profile errors have path 'profile').
 */
export async function naming<T>(option: string, f: () => T, only?: string): Promise<T> {
  const { InputError, SigframeError } = await import('../../src/schema/errors.js');
  try {
    return f();
  } catch (e) {
    if (!(e instanceof SigframeError) || e.message.startsWith(option)) throw e;
    if (only !== undefined && e.where.path !== only) throw e;
    throw new InputError(`${option}: ${e.message}`, { ...e.where, path: option.replace(/^--/, '') });
  }
}

/**
 * Refuses each of `others` (option names) that was given together with `what` (`--all`, or a
 * positional such as `FILE x.json`): exit 2, naming both.
 */
export async function refuseWith(
  argv: Record<string, unknown>,
  what: string,
  others: readonly string[],
  why: string,
): Promise<void> {
  const { InputError } = await import('../../src/schema/errors.js');
  const o = others.find((name) => argv[name] !== undefined);
  if (o !== undefined) throw new InputError(`${what} and --${o} cannot be combined: ${why}`, { path: o });
}

/** A refusal of an option that only means something with another (`needed`, e.g. '--struct'). */
export async function needs(a: string, needed: string, why: string): Promise<never> {
  const { InputError } = await import('../../src/schema/errors.js');
  throw new InputError(`--${a} needs ${needed}: ${why}`, { path: a });
}

/** An option's text in a message: an empty one as ''. */
const shown = (text: string) => (text.trim() === '' ? `'${text}'` : text);

/** An address argument: "0x…" or decimal, as bigint. */
export async function parseAddress(text: string | undefined, name: string): Promise<bigint | undefined> {
  if (text === undefined) return undefined;
  const { InputError } = await import('../../src/schema/errors.js');
  const t = text.trim();
  if (!/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/i.test(t)) {
    throw new InputError(`--${name}: ${shown(text)} is not an address (0x… or decimal, ≥ 0)`, {
      path: name,
    });
  }
  const v = BigInt(t);
  if (v >= 1n << 64n) throw new InputError(`--${name}: ${text} is more than 64 bits`, { path: name });
  return v;
}

/** A number argument (decimal, or 0x… hex), checked here so that `abc` is not passed on as NaN. */
export async function parseNumber(text: string | number, name: string, expected: string): Promise<number> {
  const { InputError } = await import('../../src/schema/errors.js');
  const t = String(text).trim();
  // A sign is read, so that the range check of the option's user says what is wrong with -4096.
  const m = /^(-?)(0x[0-9a-f]+|[0-9]+)$/i.exec(t);
  const v = m ? (m[1] ? -1 : 1) * Number(m[2]) : Number.NaN;
  if (!Number.isSafeInteger(v))
    throw new InputError(`--${name}: ${shown(String(text))} is not a number (expected ${expected})`, {
      path: name,
    });
  return v;
}

/** Options that take a value which may begin with '-' (a negative address, to be refused by name). */
export const VALUE_OPTIONS = ['address', 'frame', 'ucontext', 'top', 'top-align', 'mask', 'thread', 'kernel'];

/**
 * `--top -0x10` as `--top=-0x10`: yargs would read `-0x10` as the flags -0 and -x and say "Unknown
 * arguments: 0, x"; joined, the option gets the text and its own check names it.
 */
export function joinNegativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    if (
      next !== undefined &&
      /^-[0-9.]/.test(next) &&
      VALUE_OPTIONS.includes(a.replace(/^--/, '')) &&
      a.startsWith('--')
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** Whether a file starts like JSON (a capture, state or decode output), not raw frame bytes. */
export async function looksJson(path: string): Promise<boolean> {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(64);
      const n = readSync(fd, b, 0, 64, 0);
      return b.subarray(0, n).toString('utf8').trimStart().startsWith('{');
    } finally {
      closeSync(fd);
    }
  } catch {
    return false; // the loader says what is wrong with the file
  }
}

/**
 * A command's examples, in the epilogue rather than yargs' .example(), whose two columns wrap a
 * long command in its middle: each command line as written (at most 78 characters, so that 80
 * columns hold it; a longer one goes on with a shell continuation, `\\` then an indented line),
 * then what it shows, indented below.
 */
export type Example = readonly [command: string | readonly string[], what: string];

/** The widest example line, so that the epilogue fits in 80 columns with its 2-space indent. */
export const EXAMPLE_WIDTH = 78;

export function examplesText(examples: readonly Example[]): string {
  const lines = ['Examples:'];
  for (const [cmd, what] of examples) {
    for (const c of typeof cmd === 'string' ? [cmd] : cmd) lines.push(`  ${c}`);
    lines.push(`      ${what}`);
  }
  return lines.join('\n');
}

export function withExamples<T>(y: Argv<T>, examples: readonly Example[]): Argv<T> {
  return y.epilogue(examplesText(examples));
}

export const frameKindOption = {
  choices: ['x86_64', 'x32', 'ia32', 'ia32-rt'] as const,
  describe: 'the frame: x86_64, x32, ia32 (legacy, no SA_SIGINFO) or ia32-rt (SA_SIGINFO)',
} as const satisfies Options;
