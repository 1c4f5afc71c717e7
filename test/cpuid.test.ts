import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseDump } from '../src/cpuid/parse.js';
import { Cpuid } from '../src/cpuid/records.js';
import { InputError } from '../src/schema/errors.js';
import { readXsaveEnumeration } from '../src/xsave/enumeration.js';
import { fixture, readFixture } from './support/helpers.js';

const subleaves = (c: Cpuid, leaf: number) => c.records.filter((r) => r.leaf === leaf).map((r) => r.subleaf);

describe('AIDA64 / InstLatx64 dumps', () => {
  test('every shipped dump parses, one block per logical CPU', () => {
    const files = readdirSync(fixture('cpuid')).filter((f) => f.endsWith('_CPUID.txt'));
    assert.equal(files.length, 8);
    for (const f of files) {
      const d = parseDump(readFixture('cpuid', f), f);
      assert.equal(d.format, 'aida64');
      assert.ok(d.cpus >= 4, `${f}: ${d.cpus} CPUs`);
      assert.deepEqual(d.warnings, [], f);
      assert.ok(d.cpuid.has(0xd, 0), f);
    }
  });

  test('[SL nn] subleaves are hex; identity comes from leaves 0, 1 and the brand string', () => {
    const d = parseDump(readFixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt'));
    assert.equal(d.cpus, 72);
    assert.deepEqual(subleaves(d.cpuid, 0xd), [0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 17, 18]);
    assert.deepEqual(d.cpuid.get(0xd, 0x12), {
      leaf: 0xd,
      subleaf: 18,
      eax: 0x2000,
      ebx: 0xb00,
      ecx: 6,
      edx: 0,
    });
    assert.equal(d.cpuid.vendor(), 'GenuineIntel');
    assert.equal(d.cpuid.brand(), 'Intel(R) Xeon(R) w9-3475X');
    assert.deepEqual(d.cpuid.signature(), { family: 6, model: 0x8f, stepping: 8 });
  });

  test('older dumps without [SL] markers: the n-th line of a leaf is subleaf n', () => {
    const d = parseDump(readFixture('cpuid', 'GenuineIntel0090675_AlderLake_01_CPUID.txt'));
    assert.deepEqual(subleaves(d.cpuid, 0xd), [0, 1, 2]);
    assert.deepEqual(subleaves(d.cpuid, 0x4), [0, 1, 2, 3]);
    assert.equal(d.cpuid.get(0xd, 2)?.ebx, 0x240);
    assert.equal(d.cpuid.brand(), '12th Gen Intel(R) Core(TM) i5-12500T');
  });

  test('a malformed record line is an error naming the line', () => {
    const text = 'CPUID 00000000: 00000010-68747541-444D4163-69746E65\nCPUID 0000000D: 000002E7-00000980\n';
    assert.throws(
      () => parseDump(text, 'bad.txt'),
      (e: unknown) =>
        e instanceof InputError &&
        /^bad\.txt:2: expected "CPUID LLLLLLLL: EAX-EBX-ECX-EDX \[SL nn\]"/.test(e.message),
    );
  });

  test('logical CPUs that disagree about leaf 0xD are reported', () => {
    const a =
      'CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\nCPUID 0000000D: 00000007-00000340-00000340-00000000 [SL 00]\n';
    const b = a.replace('00000007-00000340-00000340', '00000007-00000340-00000380');
    const d = parseDump(a + b, 'mixed');
    assert.equal(d.cpus, 2);
    assert.deepEqual(d.warnings, ['logical CPU #1 reports a different leaf 0xD than CPU #0; using CPU #0']);
    assert.equal(d.cpuid.field('xsave_sz_max'), 0x340);
  });
});

describe('`cpuid -r` output', () => {
  test('the development host, both CPUs', () => {
    const d = parseDump(readFixture('cpuid', 'host-kvm-intel-xeon-amx.cpuid-r.txt'), 'host');
    assert.equal(d.format, 'cpuid-r');
    assert.equal(d.cpus, 2);
    assert.deepEqual(d.cpuid.get(0xd, 17), { leaf: 0xd, subleaf: 17, eax: 64, ebx: 2752, ecx: 2, edx: 0 });
    assert.equal(d.cpuid.field('xsave_sz_xcr0_xss'), 10688);
  });

  test('a malformed register line is an error naming the line', () => {
    assert.throws(
      () => parseDump('CPU 0:\n   0x0000000d 0x00: eax=0x000002e7 ebx=oops\n', 'r.txt'),
      /r\.txt:2: expected "0xLLLLLLLL 0xSS: eax=0x… ebx=0x… ecx=0x… edx=0x…", got "0x0000000d 0x00: eax=0x000002e7 ebx=oops"$/,
    );
  });
});

describe('JSON records', () => {
  test('objects with hex strings or numbers, and [leaf, subleaf, eax, ebx, ecx, edx] tuples', () => {
    const objects = parseDump(
      JSON.stringify([{ leaf: '0xd', subleaf: 0, eax: '0x207', ebx: 832, ecx: '0xa88', edx: 0 }]),
    );
    const tuples = parseDump(JSON.stringify([[13, 0, 0x207, 832, 0xa88, 0]]));
    assert.deepEqual(objects.cpuid.records, tuples.cpuid.records);
    assert.equal(objects.cpuid.field('xsave_sz_max'), 2696);
  });

  test('errors give the JSON path', () => {
    assert.throws(
      () => parseDump('[{"leaf":13,"eax":1,"ebx":2,"ecx":3}]', 'x.json'),
      /x\.json: \$\[0\]\.edx: missing/,
    );
    assert.throws(
      () => parseDump('[[13,0,1,2,3]]', 'x.json'),
      /\$\[0\]: expected \[leaf, subleaf, eax, ebx, ecx, edx\], got 5 values/,
    );
    assert.throws(
      () => parseDump('[[13,0,1,2,3,"0x1ffffffff"]]', 'x.json'),
      /\$\[0\]\[5\]: expected a 32-bit value/,
    );
    assert.throws(() => parseDump('{"cpuid": 3}', 'x.json'), /\$\.cpuid: expected an array of CPUID records/);
    assert.throws(() => parseDump('[1,', 'x.json'), /x\.json: not valid JSON/);
  });

  test('text that is no dump at all', () => {
    assert.throws(() => parseDump('hello\nworld\n', 'notes.txt'), /notes\.txt: no CPUID records found/);
  });
});

describe('leaf 0xD enumeration: everything kept, every inconsistency reported', () => {
  const spr = () => parseDump(readFixture('cpuid', 'GenuineIntel00806F8_SapphireRapids_06_CPUID.txt')).cpuid;
  const edit = (
    c: Cpuid,
    sub: number,
    patch: Partial<{ eax: number; ebx: number; ecx: number; edx: number }>,
  ) => new Cpuid(c.records.map((r) => (r.leaf === 0xd && r.subleaf === sub ? { ...r, ...patch } : r)));

  test('Sapphire Rapids: all 64 bits, sizes, offsets and ECX flags', () => {
    const e = readXsaveEnumeration(spr());
    assert.equal(e.xcr0Supported, 0x602e7n);
    assert.equal(e.xssSupported, 0xdd00n);
    assert.deepEqual([e.sizeXcr0, e.sizeMax, e.sizeXcr0Xss], [11008, 11008, 10880]);
    assert.deepEqual(e.instructions, {
      xsaveopt: true,
      xsavec: true,
      xgetbv1: true,
      xsaves: true,
      xfd: true,
    });
    const tiledata = e.components.get(18)!;
    assert.deepEqual(
      [
        tiledata.size,
        tiledata.offset,
        tiledata.aligned64,
        tiledata.xfdFaulting,
        tiledata.supervisor,
        tiledata.in,
      ],
      [8192, 2816, true, true, false, 'xcr0'],
    );
    const lbr = e.components.get(15)!;
    assert.deepEqual([lbr.size, lbr.supervisor, lbr.in], [0x328, true, 'xss']);
    assert.deepEqual(e.findings, []);
  });

  test('an incomplete dump says what is missing (Goldmont: MPX without subleaves 3/4)', () => {
    const e = readXsaveEnumeration(
      parseDump(readFixture('cpuid', 'GenuineIntel00506C9_Goldmont_CPUID.txt')).cpuid,
    );
    assert.deepEqual(e.missing, [3, 4, 8]);
    const f = e.findings.find((x) => x.code === 'incomplete');
    assert.match(
      f!.message,
      /components 3 \(BNDREGS\), 4 \(BNDCSR\), 8 \(PT\) are supported but the input has no CPUID\.\(0xD,n\) subleaf/,
    );
  });

  test('a supported component of size 0 is an error (InstLatx64 Cascade Lake, PKRU)', () => {
    const e = readXsaveEnumeration(
      parseDump(readFixture('cpuid', 'GenuineIntel0050656_CascadeLakeSP_CPUID.txt')).cpuid,
    );
    const errors = e.findings.filter((f) => f.level === 'error');
    assert.deepEqual(
      errors.map((f) => f.message),
      ['CPUID.(0xD,9) PKRU: supported but its size (EAX) is 0'],
    );
  });

  test('overlapping standard-format components are an error naming both subleaves', () => {
    const e = readXsaveEnumeration(edit(spr(), 6, { ebx: 1100 }));
    const overlap = e.findings.find((f) => f.code === 'overlap');
    assert.equal(
      overlap?.message,
      'inconsistent CPUID: CPUID.(0xD,5) OPMASK [1088..1151] overlaps CPUID.(0xD,6) ZMM_Hi256 [1100..1611] in the standard format',
    );
  });

  test('an offset inside the legacy region or header is an error', () => {
    const e = readXsaveEnumeration(edit(spr(), 2, { ebx: 512 }));
    assert.ok(
      e.findings.some(
        (f) =>
          f.code === 'offset-in-legacy' &&
          /standard offset 512 lies inside the legacy region and header \(0\.\.575\)/.test(f.message),
      ),
    );
  });

  test('unknown bits, reserved ECX bits and EDX are kept and reported', () => {
    const records = spr().records.map((r) =>
      r.leaf === 0xd && r.subleaf === 0 ? { ...r, eax: r.eax | (1 << 21), edx: 1 << 30 } : r,
    );
    records.push({ leaf: 0xd, subleaf: 21, eax: 64, ebx: 11008, ecx: 0x10, edx: 7 });
    const e = readXsaveEnumeration(new Cpuid(records));
    assert.equal(e.xcr0Supported & (1n << 62n), 1n << 62n, 'AMD LWP is XCR0 bit 62 (EDX bit 30)');
    assert.deepEqual(e.unknown, [21]);
    assert.equal(e.components.get(21)?.ecxReserved, 0x10);
    assert.equal(e.components.get(21)?.edx, 7);
    assert.deepEqual(
      e.findings.map((f) => f.code),
      ['ecx-reserved', 'edx-reserved', 'incomplete', 'unknown-bit'],
    );
    assert.deepEqual(e.missing, [62]);
  });

  test('a size that differs from the architectural struct is flagged like the kernel would', () => {
    const e = readXsaveEnumeration(edit(spr(), 9, { eax: 64 }));
    assert.ok(
      e.findings.some(
        (f) => f.code === 'size-mismatch' && /size 64 differs from the architectural 8 bytes/.test(f.message),
      ),
    );
  });
});
