import { type AbiName, abis, type DataModelName, dataModels } from '../../layouts/abi.js';
import { cAsserts } from '../schema/cgen.js';
import { InputError } from '../schema/errors.js';
import { abiConstants } from './constants.js';
import { allStructs, findStruct } from './index.js';

/**
 * C programs that make the C compiler check sigframe's layouts and constants against the uapi
 * headers it has: every struct with a uapi spelling for the data model, every constant.
 */
export function cCheckProgram(model: DataModelName): string {
  const headers = new Set<string>(['stddef.h', 'asm/sigcontext.h', 'asm/signal.h', 'asm/ucontext.h']);
  const lines: string[] = [];
  for (const s of allStructs) {
    const u = s.doc.uapi;
    if (!u?.models.includes(model)) continue;
    headers.add(u.header);
    lines.push(
      `/* ${s.name} as ${u.ctype} (${u.header}) */`,
      ...cAsserts(s, dataModels[model], {
        ctype: u.ctype,
        except: u.except ?? [],
        sameSize: u.sameSize ?? false,
      }),
    );
  }
  for (const [name, c] of Object.entries(abiConstants)) {
    if ('models' in c && !(c.models as readonly string[]).includes(model)) continue;
    headers.add(c.header);
    lines.push(`_Static_assert((unsigned long)(${name}) == ${c.value}UL, "${name} == ${c.value}");`);
  }
  return [...[...headers].map((h) => `#include <${h}>`), '', ...lines, ''].join('\n');
}

/** The static asserts for one struct as a program of `abi` would see it. */
export function cStructAsserts(name: string, abi: AbiName): string[] {
  const s = findStruct(name);
  const model = abis[abi].user;
  const u = s.doc.uapi;
  if (!u?.models.includes(model)) {
    throw new InputError(
      `struct ${s.name} has no uapi spelling that ${abi} programs can include (it is kernel-internal or belongs to another ABI)`,
      {
        path: 'struct',
      },
    );
  }
  return [
    `#include <stddef.h>`,
    `#include <${u.header}>`,
    ...cAsserts(s, dataModels[model], {
      ctype: u.ctype,
      except: u.except ?? [],
      sameSize: u.sameSize ?? false,
    }),
  ];
}
