import type { Argv, Options } from 'yargs';
import type { KernelConfig } from '../../src/kernel/xstate.js';

/** Options several commands share, declared once. */
export const profileOption = {
  type: 'string',
  default: 'host',
  describe:
    'CPU: a shipped profile name (see `sigframe profiles`), a profile or raw CPUID dump file, or "host"',
} as const satisfies Options;

export const kernelOption = {
  type: 'string',
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

/** Loads the profile a command asked for, with the kernel version to reason about. */
export async function selectTarget(profileSpec: string, kernelArg: string | undefined) {
  const { profileTarget } = await import('../../src/io/profiles.js');
  return profileTarget(profileSpec, kernelArg);
}

/** An address argument: "0x…" or decimal, as bigint. */
export async function parseAddress(text: string | undefined, name: string): Promise<bigint | undefined> {
  if (text === undefined) return undefined;
  const { InputError } = await import('../../src/schema/errors.js');
  if (!/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/.test(text.trim())) {
    throw new InputError(`--${name} ${text}: expected an address, e.g. 0x7ffd1234a000`, { path: name });
  }
  const v = BigInt(text.trim());
  if (v >= 1n << 64n) throw new InputError(`--${name} ${text}: more than 64 bits`, { path: name });
  return v;
}

export const frameKindOption = {
  choices: ['x86_64', 'x32', 'ia32', 'ia32-rt'] as const,
  describe: 'the frame: x86_64, x32, ia32 (legacy, no SA_SIGINFO) or ia32-rt (SA_SIGINFO)',
} as const satisfies Options;
