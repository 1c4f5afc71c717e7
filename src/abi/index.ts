import { type AbiName, abis, dataModels } from '../../layouts/abi.js';
import { frameStructs } from '../../layouts/frames.js';
import { siginfoStructs } from '../../layouts/siginfo.js';
import { uapiStructs } from '../../layouts/uapi.js';
import { xfeatures } from '../../layouts/xfeatures.js';
import { InputError } from '../schema/errors.js';
import type { DataModel } from '../schema/layout.js';
import type { StructNode } from '../schema/node.js';

/** Every struct sigframe describes, by C name: what `sigframe layout --struct` can show. */
export const allStructs: readonly StructNode[] = [
  ...new Set<StructNode>([
    ...uapiStructs,
    ...frameStructs,
    ...siginfoStructs,
    ...xfeatures.flatMap((x) => ('registers' in x ? [x.registers] : [])),
  ]),
];

export function findStruct(name: string): StructNode {
  const s = allStructs.find((x) => x.name === name || x.name === `_${name}`);
  if (!s) {
    throw new InputError(`unknown struct '${name}'; known: ${allStructs.map((x) => x.name).join(', ')}`, {
      path: 'struct',
    });
  }
  return s;
}

export function abiByName(name: string): (typeof abis)[AbiName] {
  if (!(name in abis))
    throw new InputError(`unknown ABI '${name}'; expected one of ${Object.keys(abis).join(', ')}`, {
      path: 'abi',
    });
  return abis[name as AbiName];
}

/**
 * The data model a struct is laid out under in `abi`'s frames: the user program's for uapi
 * structs, the kernel's for kernel-internal frame structs (an i386 kernel when kernelBits is 32).
 */
export function structModel(s: StructNode, abi: AbiName, kernelBits: 64 | 32 = 64): DataModel {
  const a = abis[abi];
  if (s.doc.abis && !s.doc.abis.includes(abi)) {
    throw new InputError(
      `struct ${s.name} is not part of ${abi} signal frames (it appears in: ${s.doc.abis.join(', ')})`,
      {
        path: 'abi',
      },
    );
  }
  if (!s.doc.kernelInternal) return dataModels[a.user];
  const k = kernelBits === 32 ? a.kernel32 : a.kernel64;
  if (!k) throw new InputError(`${abi} frames are only built by 64-bit kernels`, { path: 'abi' });
  return dataModels[k];
}
