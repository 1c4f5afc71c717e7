import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { KernelConfig } from '../kernel/xstate.js';
import { type HostProbe, probeHost } from './probe.js';

/**
 * The system sigframe runs on, as far as it can be told from user space: the kernel's release
 * and the configuration the sizing model takes (KernelConfig), and the C library programs built
 * here get. Each kernel setting says how it was found, so a report can say why it holds; a
 * setting nobody can read is the kernel's default, marked so.
 */
export interface RunningSystem {
  readonly release: string;
  /** glibc's version, or undefined where programs are not built against glibc. */
  readonly glibc: string | undefined;
  /** 32-bit programs run now (IA32 emulation built in and not turned off at boot). */
  readonly ia32Runs: boolean;
  readonly config: Required<KernelConfig>;
  readonly basis: { readonly ia32Emulation: string; readonly strictSasSize: string };
}

/** A boot option's value, parsed as the kernel's kstrtobool() does (lib/kstrtox.c). */
function bootBool(cmdline: string, name: string): boolean | undefined {
  const m = new RegExp(`(?:^|\\s)${name}=(\\S*)`).exec(cmdline);
  if (!m) return undefined;
  const v = m[1]!.toLowerCase();
  if (/^(1|y|t|on)/.test(v)) return true;
  if (/^(0|n|f|of)/.test(v)) return false;
  return undefined;
}

/** CONFIG_NAME=y|n from /proc/config.gz or /boot/config-RELEASE; undefined when neither exists. */
function kconfig(release: string): { text: string; where: string } | undefined {
  try {
    if (existsSync('/proc/config.gz'))
      return { text: gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), where: '/proc/config.gz' };
    const boot = `/boot/config-${release}`;
    if (existsSync(boot)) return { text: readFileSync(boot, 'utf8'), where: boot };
  } catch {
    // An unreadable config is the same as none: the settings fall back to what else is known.
  }
  return undefined;
}

function configBool(config: { text: string } | undefined, name: string): boolean | undefined {
  if (!config) return undefined;
  if (new RegExp(`^CONFIG_${name}=y$`, 'm').test(config.text)) return true;
  if (new RegExp(`^# CONFIG_${name} is not set$`, 'm').test(config.text)) return false;
  return undefined;
}

/**
 * The running system. CONFIG_IA32_EMULATION is what sizes frames (MAX_FRAME_SIGINFO_UCTXT_SIZE and
 * the FSAVE header in fpu__get_fpstate_size() are compile-time): 32-bit system calls working
 * (the probe's `int $0x80`) prove it on; an `ia32_emulation=0` boot option (6.7+) turns the calls
 * off but not the config; else the kernel's config file says, else the failed call means off.
 * strict_sas_size comes only from CONFIG_STRICT_SIGALTSTACK_SIZE: the boot option is never
 * accepted — arch/x86/kernel/signal.c registers it with __setup("strict_sas_size"), and
 * obsolete_checksetup() (init/main.c) hands a __setup handler the text after the name, here
 * "=1", which kstrtobool() refuses; the kernel then reports it as an unknown
 * parameter (seen on Debian 6.18.15: "Unknown kernel command line parameters
 * "strict_sas_size=1", will be passed to user space").
 */
export function runningSystem(probe: HostProbe = probeHost()): RunningSystem {
  const cmdline = (() => {
    try {
      return readFileSync('/proc/cmdline', 'utf8');
    } catch {
      return '';
    }
  })();
  const config = kconfig(probe.release);
  const fromConfig = configBool(config, 'IA32_EMULATION');
  const bootOff = bootBool(cmdline, 'ia32_emulation') === false;

  let ia32Emulation: boolean;
  let ia32Basis: string;
  if (probe.ia32Syscall === true) {
    ia32Emulation = true;
    ia32Basis = 'int $0x80 reached the 32-bit system call table';
  } else if (bootOff) {
    ia32Emulation = true;
    ia32Basis =
      'built in, but turned off at boot (ia32_emulation=0): 32-bit programs do not run, frames are sized for them';
  } else if (fromConfig !== undefined) {
    ia32Emulation = fromConfig;
    ia32Basis = `CONFIG_IA32_EMULATION=${fromConfig ? 'y' : 'n'} in ${config!.where}`;
  } else if (probe.ia32Syscall === false) {
    ia32Emulation = false;
    ia32Basis = 'int $0x80 found no 32-bit system call table, and no ia32_emulation= boot option';
  } else {
    ia32Emulation = true;
    ia32Basis = 'assumed on (the distribution default): the probe could not run int $0x80';
  }

  const strictConfig = configBool(config, 'STRICT_SIGALTSTACK_SIZE');
  const strict = strictConfig ?? false;
  const strictBasis =
    strictConfig !== undefined
      ? `CONFIG_STRICT_SIGALTSTACK_SIZE=${strictConfig ? 'y' : 'n'} in ${config!.where}`
      : 'off: the kernel config is not readable, and the strict_sas_size= boot option never takes effect';
  return {
    release: probe.release,
    glibc: probe.glibc,
    ia32Runs: probe.ia32Syscall === true,
    config: { bits: 64, ia32Emulation, strictSasSize: strict },
    basis: { ia32Emulation: ia32Basis, strictSasSize: strictBasis },
  };
}

/** What a command line asked for: undefined means "as the running system". */
export interface AskedSystem {
  readonly kernel?: string;
  readonly bits: 64 | 32;
  readonly ia32Emulation?: boolean;
  readonly strictSasSize?: boolean;
}

/**
 * The configuration to model for the host, and why a live comparison does not apply when the
 * options describe another system: a kernel version that is not the running one (`6.18` names
 * the running 6.18.44), an i386 kernel, or a setting other than the running kernel's.
 */
export function hostTarget(
  running: RunningSystem,
  asked: AskedSystem,
): { config: Required<KernelConfig>; otherSystem: string[] } {
  const other: string[] = [];
  if (asked.kernel !== undefined) {
    const want = asked.kernel
      .trim()
      .split(/[^0-9.]/)[0]!
      .split('.')
      .filter(Boolean);
    const have = running.release.split(/[^0-9.]/)[0]!.split('.');
    if (want.length < 2 || want.some((part, i) => part !== have[i]))
      other.push(`--kernel ${asked.kernel} is not the running kernel (${running.release})`);
  }
  if (asked.bits !== 64) other.push('--kernel-bits 32: the running kernel is 64-bit');
  const r = running.config;
  if (asked.ia32Emulation !== undefined && asked.ia32Emulation !== r.ia32Emulation)
    other.push(
      `--ia32-emulation ${asked.ia32Emulation ? 'on' : 'off'}: the running kernel has it ${r.ia32Emulation ? 'on' : 'off'} (${running.basis.ia32Emulation})`,
    );
  if (asked.strictSasSize !== undefined && asked.strictSasSize !== r.strictSasSize)
    other.push(
      `--strict-sas-size${asked.strictSasSize ? '' : '=false'}: the running kernel has strict_sas_size ${r.strictSasSize ? 'on' : 'off'} (${running.basis.strictSasSize})`,
    );
  return {
    config: {
      bits: asked.bits,
      ia32Emulation: asked.ia32Emulation ?? r.ia32Emulation,
      strictSasSize: asked.strictSasSize ?? r.strictSasSize,
    },
    otherSystem: other,
  };
}
