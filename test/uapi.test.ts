import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { abis } from '../layouts/abi.js';
import { cCheckProgram } from '../src/abi/cchecks.js';
import { allStructs } from '../src/abi/index.js';
import { compileC, hostSkipReason, targetSkipReason } from './support/helpers.js';

// The C compiler is the judge: every struct that has a uapi spelling, under every data model the
// header declares it for, and every ABI constant, become _Static_asserts compiled against the
// installed linux-libc-dev headers.
describe('layouts and constants against the uapi headers (cc)', () => {
  for (const abi of Object.values(abis)) {
    const skip = hostSkipReason() ?? targetSkipReason(abi.cflag);
    test(`${abi.name} (${abi.user}, cc ${abi.cflag})`, { skip }, () => {
      const program = cCheckProgram(abi.user);
      const r = compileC(program, abi.cflag);
      assert.ok(r.ok, `cc ${abi.cflag} rejected sigframe's layouts:\n${r.stderr}`);
      // The program must really check something for this model.
      assert.ok((program.match(/_Static_assert/g) ?? []).length > 100, 'expected well over 100 assertions');
    });
  }

  test('every uapi struct sigframe lists is checked under some model', () => {
    const checked = new Set(
      Object.values(abis).flatMap((a) =>
        allStructs.filter((s) => s.doc.uapi?.models.includes(a.user)).map((s) => s.name),
      ),
    );
    for (const name of [
      'sigcontext_64',
      'sigcontext_32',
      '_fpstate_64',
      '_fpstate_32',
      '_fpx_sw_bytes',
      '_header',
      'ucontext',
      'stack_t',
    ]) {
      assert.ok(checked.has(name), `${name} has no uapi check`);
    }
  });

  test('a wrong layout is caught (the check can fail)', { skip: hostSkipReason() }, () => {
    const broken = cCheckProgram('lp64').replace(
      'offsetof(struct sigcontext_64, fpstate) == 184',
      'offsetof(struct sigcontext_64, fpstate) == 180',
    );
    assert.notEqual(broken, cCheckProgram('lp64'));
    const r = compileC(broken, '-m64');
    assert.equal(r.ok, false);
    assert.match(r.stderr, /static assertion failed: "sigcontext_64\/lp64: offsetof\(fpstate\) == 184"/);
  });
});
