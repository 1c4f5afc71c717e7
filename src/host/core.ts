import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertX86Linux, HostError, nativeHelper } from './native.js';
import { emulatedCpu } from './probe.js';

/**
 * Real ELF core files with known contents, for `sigframe core` and its tests: native/corecase.c
 * starts a thread that spins holding a register pattern, then takes a SIGUSR1 on an alt stack
 * and, inside the handler, calls abort(). The SIGABRT core has the spinning thread's patterns in
 * its notes and the SIGUSR1 frame, holding the main thread's patterns, on the alt stack.
 */

export type CoreAbi = 'x86_64' | 'ia32';

/** Register patterns one thread of corecase holds (hex strings, GPR names ABI-neutral: bx, r12). */
export interface CorecasePatterns {
  readonly gpr: Readonly<Record<string, string>>;
  /** One hex string per register, vector_width bytes each, register 0 first, byte 0 first. */
  readonly vectors: readonly string[];
  /** k0-k7, only when vector_mode is zmm. */
  readonly k: readonly string[];
}

/** corecase's first stdout line (written before the signal), plus the handler's second one. */
export interface CorecaseInfo {
  readonly format: 'sigframe-corecase/1';
  readonly abi: CoreAbi;
  readonly release: string;
  readonly pid: number;
  readonly tids: { readonly main: number; readonly thread: number };
  /** The signal whose frame is on the alt stack (SIGUSR1) and its si_code (SI_TKILL, -6). */
  readonly signal: number;
  readonly si_code: number;
  /** The signal the core was dumped for (SIGABRT): NT_SIGINFO's. */
  readonly abort_signal: number;
  readonly xcr0: string;
  readonly vector_mode: 'xmm' | 'ymm' | 'zmm';
  readonly vector_width: number;
  readonly altstack: {
    readonly sp: string;
    readonly size: number;
    readonly flags: number;
    readonly fill: string;
  };
  /** The patterns the SIGUSR1 frame holds; resume_ip is the interrupted ip (after the tgkill). */
  readonly main: CorecasePatterns & { readonly tid: number; readonly resume_ip: string };
  /** The patterns in the spinning thread's NT_PRSTATUS / NT_X86_XSTATE; its ip is in [spin.start, spin.end). */
  readonly thread: CorecasePatterns & {
    readonly tid: number;
    readonly sp: string;
    readonly stack: { readonly base: string; readonly size: number };
    readonly spin: { readonly start: string; readonly end: string };
  };
  /** From inside the SIGUSR1 handler: frame is its entry sp (the frame's start, pretcode). */
  readonly handler: {
    readonly signal: number;
    readonly si_code: number;
    readonly si_pid: number;
    readonly frame: string;
    readonly ucontext: string;
    readonly siginfo: string;
    readonly fpstate: string;
    /** The interrupted sp and ip, from the ucontext; trampoline_sp is the sp the trampoline saw. */
    readonly sp: string;
    readonly ip: string;
    readonly trampoline_sp: string;
    readonly handler_sp: string;
  };
  /**
   * AMX runs (`makeCore(abi, dir, { amx: true })`): the TILECFG both threads loaded, and tmm0–7 of
   * each (hex, byte 0 first): the spinning thread's are in its NT_X86_XSTATE, the main thread's in
   * the SIGUSR1 frame.
   */
  readonly tiles?: {
    readonly cfg: string;
    readonly thread: readonly string[];
    readonly main: readonly string[];
  };
  /** Set when this ran on an emulated CPU (QEMU TCG and the like). */
  readonly cpu_emulator?: string;
}

export type CoreResult =
  | {
      readonly skipped?: undefined;
      readonly method: 'kernel' | 'gcore';
      readonly abi: CoreAbi;
      readonly dir: string;
      readonly corePath: string;
      readonly info: CorecaseInfo;
      /** The core_pattern the kernel used (kernel cores only). */
      readonly corePattern?: string;
    }
  | {
      /** Why no core was made: the host is set up so that none can be (not a bug here). */
      readonly skipped: string;
      readonly method: 'kernel' | 'gcore';
      readonly abi: CoreAbi;
      readonly dir: string;
      readonly corePath?: undefined;
      readonly info?: CorecaseInfo;
    };

/** The merged info is also written here, next to the core. */
export const CORECASE_INFO_FILE = 'corecase.json';

function helperFor(abi: CoreAbi): string {
  return nativeHelper('corecase', abi === 'ia32' ? ['-pthread', '-m32'] : ['-pthread']);
}

/** The helper binary, or a skip reason when an ia32 build is not possible (no multilib). */
function build(abi: CoreAbi): { binary: string } | { skipped: string } {
  try {
    return { binary: helperFor(abi) };
  } catch (e) {
    if (abi === 'ia32' && e instanceof HostError)
      return { skipped: `ia32: cannot build a 32-bit helper (${e.message.split('\n')[0]})` };
    throw e;
  }
}

function outDir(dir: string | undefined): string {
  if (dir === undefined) return mkdtempSync(join(tmpdir(), 'sigframe-core-'));
  const d = resolve(dir);
  mkdirSync(d, { recursive: true });
  return d;
}

/** corecase's stdout: line 1, then the handler's {"handler": …} line. */
export function parseCorecaseOutput(stdout: string): CorecaseInfo {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const first = lines.find((l) => l.format === 'sigframe-corecase/1');
  const handler = lines.find((l) => 'handler' in l);
  if (!first || !handler)
    throw new HostError(
      `corecase printed ${lines.length} JSON line(s) without ${first ? 'the handler line' : 'its setup line'}: ${stdout.slice(0, 300)}`,
    );
  let cpu_emulator: string | undefined;
  try {
    cpu_emulator = emulatedCpu();
  } catch {
    cpu_emulator = undefined;
  }
  return { ...first, handler: handler.handler, ...(cpu_emulator ? { cpu_emulator } : {}) } as CorecaseInfo;
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Where the kernel puts the core of process `pid` (dumping on `signal` from its main thread) that
 * ran in `cwd`, given core_pattern and core_uses_pid: the directory and a regular expression the
 * file name matches (in the name, specifiers other than %p %i %s %u %g %% match anything). Undefined
 * for a pipe, or when a specifier sigframe cannot expand sits in the directory part.
 */
export function coreLocation(
  pattern: string,
  usesPid: boolean,
  pid: number,
  signal: number,
  cwd: string,
): { dir: string; name: RegExp } | undefined {
  const p = pattern === '' ? 'core' : pattern;
  if (p.startsWith('|')) return undefined;
  let hasPid = false;
  // Expands one part; `wild` is what an unknown specifier becomes (undefined: give up).
  const expand = (
    part: string,
    quote: (s: string) => string,
    wild: string | undefined,
  ): string | undefined => {
    let r = '';
    for (let i = 0; i < part.length; i++) {
      const ch = part[i]!;
      if (ch !== '%' || i + 1 >= part.length) {
        r += quote(ch);
        continue;
      }
      const spec = part[++i]!;
      if (spec === '%') r += quote('%');
      else if (spec === 'p' || spec === 'i') {
        r += String(pid);
        hasPid = true;
      } else if (spec === 's') r += String(signal);
      else if (spec === 'u' && process.getuid) r += String(process.getuid());
      else if (spec === 'g' && process.getgid) r += String(process.getgid());
      else if (wild === undefined) return undefined;
      else r += wild;
    }
    return r;
  };
  const slash = p.lastIndexOf('/');
  const dirPart = slash < 0 ? '' : p.slice(0, slash + 1);
  const dir = expand(dirPart, (c) => c, undefined);
  let name = expand(p.slice(slash + 1), escapeRegExp, '.*');
  if (dir === undefined || name === undefined) return undefined;
  // core_uses_pid appends ".PID" to a pattern without %p.
  if (usesPid && !hasPid) name += `\\.${pid}`;
  return { dir: dir === '' ? cwd : resolve(cwd, dir), name: new RegExp(`^${name}$`) };
}

function runCorecase(
  binary: string,
  dir: string,
  abi: CoreAbi,
  amx: boolean,
): { info: CorecaseInfo } | { skipped: string } {
  const r = spawnSync(binary, amx ? [dir, 'amx'] : [dir], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new HostError(`running ${binary}: ${r.error.message}`);
  if (r.signal !== 'SIGABRT') {
    const why = (r.stderr || '').trim();
    if (/RLIMIT_CORE hard limit is 0/.test(why))
      return { skipped: `${abi}: ${why.replace(/^corecase: /, '')}` };
    throw new HostError(
      `corecase (${abi}) was to die of SIGABRT but ${r.signal ? `died of ${r.signal}` : `exited with ${r.status}`}: ${why}`,
    );
  }
  return { info: parseCorecaseOutput(r.stdout) };
}

/**
 * Runs corecase (built for `abi`) in `dir` (a fresh temporary directory by default) and returns
 * the core the kernel wrote for it. A core_pattern that pipes to a program (systemd-coredump,
 * apport) or names a place that cannot be found gives a skip reason, as does an RLIMIT_CORE hard
 * limit of 0; HostError when the helper itself misbehaves. `amx`: both threads load all eight
 * tiles first (x86_64 on a CPU and kernel that offer AMX).
 */
export function makeCore(abi: CoreAbi, dir?: string, o: { amx?: boolean } = {}): CoreResult {
  assertX86Linux('making core files');
  const out = outDir(dir);
  const pattern = readProc('/proc/sys/kernel/core_pattern') ?? 'core';
  const usesPid = readProc('/proc/sys/kernel/core_uses_pid') === '1';
  const base = { method: 'kernel' as const, abi, dir: out };
  if (pattern.startsWith('|'))
    return {
      ...base,
      skipped: `kernel.core_pattern is "${pattern}": the kernel hands cores to that program, not to a file; set it to a file name (sysctl kernel.core_pattern=core) to make core files`,
    };
  const built = build(abi);
  if ('skipped' in built) return { ...base, skipped: built.skipped };
  const started = Date.now();
  const run = runCorecase(built.binary, out, abi, o.amx === true);
  if ('skipped' in run) return { ...base, skipped: run.skipped };
  const { info } = run;
  writeFileSync(join(out, CORECASE_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
  const where = coreLocation(pattern, usesPid, info.pid, info.abort_signal, out);
  if (!where)
    return {
      ...base,
      info,
      skipped: `kernel.core_pattern "${pattern}" puts the core in a directory sigframe cannot work out`,
    };
  const found = existsSync(where.dir)
    ? readdirSync(where.dir)
        .filter((n) => where.name.test(n))
        .map((n) => ({ path: join(where.dir, n), st: statSync(join(where.dir, n)) }))
        .filter((f) => f.st.isFile() && f.st.mtimeMs >= started - 2000)
        .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs)
    : [];
  if (found.length === 0)
    return {
      ...base,
      info,
      skipped: `corecase died of SIGABRT but no core matching ${where.name} appeared in ${where.dir} (kernel.core_pattern "${pattern}"${usesPid ? ', core_uses_pid 1' : ''}): the directory may not be writable, or fs.suid_dumpable/coredump_filter prevent dumps`,
    };
  return { ...base, info, corePath: found[0]!.path, corePattern: pattern };
}

function gdbAvailable(): string | undefined {
  const r = spawnSync('gdb', ['--version'], { encoding: 'utf8' });
  if (r.error) return 'gdb is not installed (gcore needs it)';
  if (r.status !== 0) return `gdb --version failed: ${(r.stderr || '').trim()}`;
  return undefined;
}

/**
 * The same program under gdb: it stops at the SIGABRT that abort() raises inside the SIGUSR1
 * handler (SIGUSR1 itself is passed through without a stop, so the frame is built), takes a core
 * with gdb's `gcore`, and kills the process. The core is `dir`/core; gdb runs the program with
 * address randomisation off, so its addresses differ from a kernel core's.
 */
export function gcoreOf(abi: CoreAbi, dir?: string): CoreResult {
  assertX86Linux('making core files with gdb');
  const out = outDir(dir);
  const base = { method: 'gcore' as const, abi, dir: out };
  const noGdb = gdbAvailable();
  if (noGdb) return { ...base, skipped: noGdb };
  if (/[\s'"\\]/.test(out))
    throw new HostError(`gcoreOf: ${out} holds spaces or quotes, which gdb's run and gcore cannot take`);
  const built = build(abi);
  if ('skipped' in built) return { ...base, skipped: built.skipped };
  const corePath = join(out, 'core');
  const stdoutFile = join(out, 'corecase.out');
  const r = spawnSync(
    'gdb',
    [
      '-nx',
      '-batch',
      '-ex',
      'set pagination off',
      '-ex',
      'set confirm off',
      '-ex',
      'handle SIGUSR1 nostop noprint pass',
      '-ex',
      `run '${out}' > '${stdoutFile}'`,
      '-ex',
      `gcore ${corePath}`,
      '-ex',
      'kill',
      built.binary,
    ],
    { cwd: out, encoding: 'utf8', timeout: 120_000 },
  );
  if (r.error) throw new HostError(`running gdb: ${r.error.message}`);
  const log = `${r.stdout}\n${r.stderr}`;
  if (/ptrace: Operation not permitted|Could not trace the inferior|ptrace.*not permitted/i.test(log))
    return {
      ...base,
      skipped: `gdb may not trace here (ptrace refused; kernel.yama.ptrace_scope, seccomp or a container): ${log.trim().split('\n').slice(-3).join(' / ')}`,
    };
  if (!/received signal SIGABRT/.test(log) || !existsSync(corePath))
    throw new HostError(
      `gdb did not stop corecase (${abi}) at SIGABRT and write ${corePath}:\n${log.trim()}`,
    );
  const info = parseCorecaseOutput(readFileSync(stdoutFile, 'utf8'));
  writeFileSync(join(out, CORECASE_INFO_FILE), `${JSON.stringify(info, null, 2)}\n`);
  return { ...base, info, corePath };
}
