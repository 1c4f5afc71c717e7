import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { profilesDir } from '../layouts/paths.js';
import { XFEATURE } from '../layouts/xfeatures.js';
import { groupNotes } from '../src/core/notes.js';
import { XSTATE_XCR0_OFFSET } from '../src/core/report.js';
import { parseDump } from '../src/cpuid/parse.js';
import { openCore } from '../src/io/core-file.js';
import {
  builtinProfileNames,
  loadBuiltinProfile,
  loadProfile,
  profileFromDumpFile,
} from '../src/io/profiles.js';
import { consistencyFindings, requireConsistent } from '../src/profile/checks.js';
import { profileFromDump } from '../src/profile/dump.js';
import type { Profile } from '../src/profile/profile.js';
import { profileFromXsaveLayout } from '../src/profile/synthetic.js';
import { InputError } from '../src/schema/errors.js';
import { arbitraryCpuShape, profileOfShape } from '../src/testing/profiles.js';
import { cli, fixture, readFixture } from './support/helpers.js';

/**
 * The consistency gate (issue #14): every dump and profile file sigframe loads must agree with
 * itself the way arch/x86/kernel/fpu/xstate.c checks leaf 0xD. Each bad input below is a real
 * dump or shipped profile with one register changed.
 */

const errors = (p: Profile) => consistencyFindings(p).filter((f) => f.level === 'error');
const dir = mkdtempSync(join(tmpdir(), 'sigframe-gate-'));

// ---- mutations -----------------------------------------------------------------------------------

type Reg = 'eax' | 'ebx' | 'ecx' | 'edx';
const REGS: readonly Reg[] = ['eax', 'ebx', 'ecx', 'edx'];
const h8 = (v: number) => (v >>> 0).toString(16).toUpperCase().padStart(8, '0');

const GENOA = 'AuthenticAMD0A10F11_K19_Genoa_02_CPUID.txt';
const AIDA_D =
  /^CPUID 0000000D: ([0-9A-F]{8})-([0-9A-F]{8})-([0-9A-F]{8})-([0-9A-F]{8}) \[SL ([0-9A-F]{2})\]/;

/** The first (CPU #0) line of CPUID.(0xD,subleaf) in an AIDA64 dump: its number and registers. */
function aidaLine(text: string, subleaf: number): { line: number; regs: number[] } {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => {
    const m = AIDA_D.exec(l);
    return m !== null && Number.parseInt(m[5]!, 16) === subleaf;
  });
  assert.ok(i >= 0, `no CPUID.(0xD,${subleaf}) line`);
  const m = AIDA_D.exec(lines[i]!)!;
  return { line: i + 1, regs: m.slice(1, 5).map((x) => Number.parseInt(x, 16)) };
}

/** The AIDA64 dump with one register of CPUID.(0xD,subleaf) changed on every logical CPU. */
function setAida(text: string, subleaf: number, reg: Reg, value: number): { text: string; line: number } {
  const { line } = aidaLine(text, subleaf);
  const lines = text.split('\n').map((l) => {
    const m = AIDA_D.exec(l);
    if (m === null || Number.parseInt(m[5]!, 16) !== subleaf) return l;
    const regs = m.slice(1, 5).map((x) => Number.parseInt(x, 16));
    regs[REGS.indexOf(reg)] = value;
    return l.replace(/: [0-9A-F-]{35}/, `: ${regs.map(h8).join('-')}`);
  });
  return { text: lines.join('\n'), line };
}

/** A shipped profile's JSON with one register of CPUID.(0xD,subleaf) changed. */
function setProfile(name: string, subleaf: number, reg: Reg, value: number): { text: string; path: string } {
  const v = JSON.parse(readFileSync(join(profilesDir, `${name}.json`), 'utf8'));
  const i = (v.cpuid as { leaf: string; subleaf: number }[]).findIndex(
    (r) => Number(r.leaf) === 0xd && r.subleaf === subleaf,
  );
  assert.ok(i >= 0);
  v.cpuid[i][reg] = `0x${h8(value).toLowerCase()}`;
  v.name = `${name}-edited`;
  return { text: JSON.stringify(v, null, 2), path: `$.cpuid[${i}]` };
}

interface Bad {
  readonly name: string;
  readonly file: string;
  readonly text: string;
  /** What the one-line error must say. */
  readonly says: RegExp;
}

const genoa = readFixture('cpuid', GENOA);
const d0 = aidaLine(genoa, 0).line;

const bad: Bad[] = (() => {
  const out: Bad[] = [];
  const dump = (name: string, file: string, edit: { text: string; line: number }, says: string) =>
    out.push({ name, file, text: edit.text, says: new RegExp(says) });
  const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  // The issue's report: max_size 4294967536, exit 0.
  let e = setAida(genoa, XFEATURE.YMM, 'ebx', 0xfffffff0);
  dump(
    'YMM offset beyond the size CPUID reports',
    'ymm-offset.txt',
    e,
    `lines ${e.line} and ${d0}: ${q("CPUID.(0xD,2).EBX = 0xfffffff0: YMM's offset lies beyond CPUID.(0xD,0).ECX = 0x988")}.*paranoid_xstate_size_valid.*4294967536 bytes`,
  );
  e = setAida(genoa, XFEATURE.Hi16_ZMM, 'ebx', 0x600);
  dump(
    'Hi16_ZMM ends beyond ECX',
    'hi16-end.txt',
    e,
    `lines ${e.line} and ${d0}: ${q('CPUID.(0xD,7).EAX = 0x400, EBX = 0x600: Hi16_ZMM [1536..2559] ends beyond CPUID.(0xD,0).ECX = 0x988')}`,
  );
  e = setAida(genoa, 0, 'ecx', 0x990);
  dump(
    'ECX (size for every supported component) contradicts the subleaves',
    'ecx.txt',
    e,
    `lines ${e.line} and \\d+: ${q('CPUID.(0xD,0).ECX = 0x990: the subleaves of the supported components (XCR0 0x2e7) make a standard-format area of 2440 bytes — PKRU ends there')}.*one of them or ECX is wrong`,
  );
  e = setAida(genoa, 0, 'ebx', 0x9c0);
  dump(
    'EBX (size for the XCR0 in force) larger than ECX',
    'ebx-over.txt',
    e,
    q('CPUID.(0xD,0).EBX = 0x9c0: the size for the XCR0 in force exceeds CPUID.(0xD,0).ECX = 0x988'),
  );
  e = setAida(genoa, 0, 'ebx', 0x900);
  dump(
    'EBX that no XCR0 gives',
    'ebx-none.txt',
    e,
    `${q('CPUID.(0xD,0).EBX = 0x900: no XCR0 gives a standard-format area of that size')}.*one of 576, 832, 896, 1408, 2432, 2440`,
  );
  e = setAida(genoa, 0, 'ecx', 0x100);
  dump(
    'ECX below the legacy region and header',
    'ecx-small.txt',
    e,
    q('CPUID.(0xD,0).ECX = 0x100: an XSAVE area is at least 576 bytes'),
  );
  e = setAida(genoa, 0, 'eax', 0x2e4);
  dump(
    'FP/SSE not enumerated',
    'no-fpsse.txt',
    e,
    `${q('CPUID.(0xD,0).EAX = 0x2e4: FP and SSE (bits 0 and 1) must both be supported')}.*disables XSAVE`,
  );
  e = setAida(genoa, XFEATURE.YMM, 'eax', 0x80);
  dump(
    'YMM size other than its struct',
    'ymm-size.txt',
    e,
    `line ${e.line}: ${q('CPUID.(0xD,2) YMM: size 128 differs from the architectural 256 bytes')}.*sigframe cannot know`,
  );
  e = setAida(genoa, XFEATURE.PKRU, 'eax', 0x40);
  dump(
    'PKRU of 64 bytes (as a Zen 2 part reported)',
    'pkru-size.txt',
    e,
    q('CPUID.(0xD,9) PKRU: size 64 differs from the architectural 8 bytes'),
  );
  e = setAida(genoa, XFEATURE.OPMASK, 'ebx', 0x200);
  dump(
    'OPMASK inside the legacy region and header',
    'opmask-legacy.txt',
    e,
    q('CPUID.(0xD,5) OPMASK: standard offset 512 lies inside the legacy region and header (0..575)'),
  );
  e = setAida(genoa, XFEATURE.ZMM_Hi256, 'ebx', 0x360);
  dump(
    'ZMM_Hi256 overlapping OPMASK',
    'overlap.txt',
    e,
    q('CPUID.(0xD,5) OPMASK [832..895] overlaps CPUID.(0xD,6) ZMM_Hi256 [864..1375]'),
  );
  e = setAida(genoa, XFEATURE.YMM, 'ecx', 0x1);
  dump(
    'a user component flagged supervisor',
    'ymm-supervisor.txt',
    e,
    `${q('CPUID.(0xD,2) YMM: enumerated in XCR0 but ECX[0] marks it as a supervisor (XSS) component')}.*without a standard-format offset`,
  );
  // The same subleaf twice within CPU #0, with another EAX.
  {
    const { line } = aidaLine(genoa, XFEATURE.YMM);
    const lines = genoa.split('\n');
    lines.splice(line, 0, lines[line - 1]!.replace('00000100-00000240', '00000200-00000240'));
    out.push({
      name: 'a subleaf given twice with different values',
      file: 'dup.txt',
      text: lines.join('\n'),
      says: new RegExp(
        `dup\\.txt:${line + 1}: ${q(`CPUID.(0xD,2) is given twice with different values: line ${line} has eax=0x00000100`)}.*${q(`line ${line + 1} has eax=0x00000200`)}`,
      ),
    });
  }
  // `cpuid -r` output: lines counted the same way.
  {
    const text = readFixture('cpuid', 'host-kvm-intel-xeon-amx.cpuid-r.txt');
    const lines = text.split('\n');
    const i = lines.findIndex((l) => /^\s*0x0000000d 0x11:/.test(l));
    lines[i] = lines[i]!.replace('ebx=0x00000ac0', 'ebx=0x00002b00');
    out.push({
      name: 'cpuid -r: XTILE_CFG moved past the end',
      file: 'kvm.cpuid-r.txt',
      text: lines.join('\n'),
      says: new RegExp(
        `lines ${i + 1} and \\d+: ${q("CPUID.(0xD,17).EBX = 0x2b00: XTILE_CFG's offset lies beyond CPUID.(0xD,0).ECX = 0x2b00")}`,
      ),
    });
  }
  // A JSON dump: records named by JSON path.
  {
    const records = parseDump(genoa).cpuid.records.map((r) =>
      r.leaf === 0xd && r.subleaf === XFEATURE.PKRU ? { ...r, ebx: 0x1000 } : r,
    );
    const i = records.findIndex((r) => r.leaf === 0xd && r.subleaf === XFEATURE.PKRU);
    out.push({
      name: 'JSON records: PKRU beyond the end',
      file: 'records.json',
      text: JSON.stringify(records),
      says: new RegExp(
        `\\$\\[${i}\\] and \\$\\[\\d+\\]: ${q("CPUID.(0xD,9).EBX = 0x1000: PKRU's offset lies beyond")}`,
      ),
    });
  }
  // Profile files: the capture's XCR0 and XSS make EBX of subleaves 0 and 1 checkable.
  for (const [name, sub, reg, value, says] of [
    [
      'profile: EBX contradicts the capture XCR0',
      0,
      'ebx',
      0x988,
      'CPUID.(0xD,0).EBX = 0x988: for the XCR0 0xe7 in force when CPUID ran, the subleaves make a standard-format area of 2432 bytes',
    ],
    [
      'profile: compacted size contradicts the subleaves',
      1,
      'ebx',
      0x9c0,
      'CPUID.(0xD,1).EBX = 0x9c0: for XCR0|IA32_XSS 0x8e7 in force when CPUID ran, the subleaves (sizes, ECX[1] alignment) make a compacted area of 2448 bytes',
    ],
    [
      'profile: YMM offset beyond ECX',
      XFEATURE.YMM,
      'ebx',
      0xfffffff0,
      "CPUID.(0xD,2).EBX = 0xfffffff0: YMM's offset lies beyond CPUID.(0xD,0).ECX = 0x988",
    ],
  ] as const) {
    const edit = setProfile('amd-zen4-genoa', sub, reg, value);
    out.push({
      name,
      file: `${name.replace(/\W+/g, '-')}.json`,
      text: edit.text,
      says: new RegExp(`${q(edit.path)}.*: ${q(says)}`),
    });
  }
  return out;
})();

for (const b of bad) writeFileSync(join(dir, b.file), b.text);

// ---- tests ---------------------------------------------------------------------------------------

describe('the CPUID consistency gate: what loads', () => {
  test('every shipped profile passes', () => {
    const names = builtinProfileNames();
    assert.ok(names.length >= 11);
    for (const name of names) {
      const p = loadBuiltinProfile(name);
      assert.deepEqual(errors(p), [], name);
      assert.doesNotThrow(() => requireConsistent(p), name);
    }
  });

  test('every committed dump passes, but the Cascade Lake dump the fixtures README calls inconsistent', () => {
    const files = readdirSync(fixture('cpuid')).filter((f) => f.endsWith('.txt'));
    assert.equal(files.length, 9);
    for (const f of files) {
      if (f === 'GenuineIntel0050656_CascadeLakeSP_CPUID.txt') {
        // PKRU enumerated in CPUID.(0xD,0).EAX with ECX = 2696, subleaf 9 all zeros.
        const line = aidaLine(readFixture('cpuid', f), XFEATURE.PKRU).line;
        assert.throws(
          () => profileFromDumpFile(fixture('cpuid', f)),
          (e: unknown) =>
            e instanceof InputError &&
            e.message.includes(
              `${f}: inconsistent CPUID input, no frame can be laid out from it: line ${line}: CPUID.(0xD,9) PKRU: supported but its size (EAX) is 0`,
            ),
        );
        continue;
      }
      const p = profileFromDumpFile(fixture('cpuid', f));
      assert.deepEqual(errors(p), [], f);
      assert.equal(loadProfile(fixture('cpuid', f)).name, p.name);
    }
  });

  test('incomplete dumps still load: a missing subleaf is a warning, refused only where a layout needs it', () => {
    const p = profileFromDumpFile(fixture('cpuid', 'GenuineIntel00506C9_Goldmont_CPUID.txt'));
    assert.deepEqual(
      consistencyFindings(p).map((f) => [f.level, f.code]),
      [['warning', 'incomplete']],
    );
  });

  test('the test/fixtures/frames profile and every --from-dump of a committed dump load back', () => {
    assert.doesNotThrow(() => loadProfile(fixture('frames', 'host-profile.json')));
    const r = cli('profiles', '--from-dump', fixture('cpuid', GENOA), '--name', 'genoa-again');
    assert.equal(r.code, 0, r.stderr);
    const file = join(dir, 'genoa-again.json');
    writeFileSync(file, r.stdout);
    assert.deepEqual(errors(loadProfile(file)), []);
  });

  test('what the gate leaves alone: reserved ECX bits (noted), ECX[1] without XSAVEC, a record repeated unchanged', () => {
    const reserved = setAida(genoa, XFEATURE.YMM, 'ecx', 0x8);
    const p = profileFromDump(reserved.text, 'reserved.txt');
    assert.deepEqual(
      consistencyFindings(p).map((f) => [f.level, f.code]),
      [['note', 'ecx-reserved']],
    );
    // ECX[1] only moves a component in the compacted format (xfeature_get_offset); a CPU
    // without XSAVEC/XSAVES has none, and the standard offsets are not rounded.
    const haswell = readFixture('cpuid', 'GenuineIntel00306F2_HaswellEP_00_CPUID.txt');
    const aligned = setAida(haswell, XFEATURE.YMM, 'ecx', 0x2);
    assert.deepEqual(errors(profileFromDump(aligned.text, 'aligned.txt')), []);
    const { line } = aidaLine(genoa, XFEATURE.YMM);
    const lines = genoa.split('\n');
    lines.splice(line, 0, lines[line - 1]!);
    const twice = profileFromDump(lines.join('\n'), 'twice.txt');
    assert.ok(
      twice.file.source.notes?.includes(
        `line ${line + 1} repeats CPUID.(0xD,2) of line ${line} with the same values`,
      ),
    );
    assert.deepEqual(errors(twice), []);
  });

  test('profiles built in code pass for correct input: the cores’ NT_X86_XSAVE_LAYOUT notes, arbitrary CPUs', () => {
    for (const name of ['zen4-x86_64', 'avx2-x86_64']) {
      const { core, close } = openCore(fixture('cores', name, 'core'));
      try {
        const { process, threads } = groupNotes(core);
        const image = threads[0]!.xstate!.desc;
        const xcr0 = new DataView(image.buffer, image.byteOffset).getBigUint64(XSTATE_XCR0_OFFSET, true);
        const facts = {
          name: 'core-xsave-layout',
          title: name,
          cite: name,
          xcr0,
          size: image.length,
          components: process.xsaveLayout!,
        };
        const p = profileFromXsaveLayout(facts);
        assert.deepEqual(errors(p), [], name);
        assert.doesNotThrow(() => requireConsistent(p), name);
        // The same note with a wrong total is refused: the kernel writes the note and the image.
        const wrong = profileFromXsaveLayout({ ...facts, size: image.length + 64 });
        assert.throws(() => requireConsistent(wrong), /CPUID\.\(0xD,0\)\.ECX = 0x[0-9a-f]+: the subleaves/);
      } finally {
        close();
      }
    }
    fc.assert(
      fc.property(arbitraryCpuShape(), (s) => errors(profileOfShape(s)).length === 0),
      { numRuns: 200 },
    );
  });
});

describe('the CPUID consistency gate: one register changed is refused', () => {
  test('through the library: loadProfile, profileFromDumpFile', () => {
    for (const b of bad) {
      const file = join(dir, b.file);
      for (const load of [loadProfile, profileFromDumpFile]) {
        assert.throws(
          () => load(file),
          (e: unknown) => {
            assert.ok(e instanceof InputError, `${b.name}: ${e}`);
            assert.match(e.message, b.says, b.name);
            assert.ok(e.message.startsWith(file), `${b.name}: names the file first: ${e.message}`);
            return true;
          },
        );
      }
    }
  });

  // The gate sits where files are loaded, so every command refuses alike: each bad input goes
  // through one command in turn (each command sees dumps of all three formats and profiles),
  // and the issue's own case and the duplicate through all four.
  const commands: [string, string][] = [
    ['size', '--cpuid-dump'],
    ['layout', '--profile'],
    ['cpuid', '--input'],
    ['profiles', '--from-dump'],
  ];
  const everywhere = new Set(['ymm-offset.txt', 'dup.txt']);
  commands.forEach(([command, option], k) => {
    const mine = bad.filter((b, i) => everywhere.has(b.file) || i % commands.length === k);
    test(`through the CLI: ${command} ${option} — exit 2, one line, no trace (${mine.length} inputs)`, () => {
      for (const b of mine) {
        const file = join(dir, b.file);
        const r = cli(command, option, file);
        assert.equal(r.code, 2, `${b.name}: ${r.stderr}`);
        assert.equal(r.stdout, '', b.name);
        const lines = r.stderr.trimEnd().split('\n');
        assert.equal(lines.length, 1, `${b.name}: ${r.stderr}`);
        assert.match(lines[0]!, /^sigframe: /);
        assert.ok(lines[0]!.includes(file), `${b.name}: names the file`);
        assert.match(lines[0]!, b.says, b.name);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      }
    });
  });
});
