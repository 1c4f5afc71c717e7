// Makes a core fixture small: keeps every header and note and only the memory the signal-frame
// walk reads — the segments holding a thread's sp, and those the frames found there interrupted.
//
//   node --import tsx scripts/strip-core.ts IN OUT [--profile P]
import { writeFileSync } from 'node:fs';
import { loadAt } from '../src/core/elf.js';
import { stripCore } from '../src/core/strip.js';
import { openCore, readCoreFile } from '../src/io/core-file.js';
import { loadProfile } from '../src/io/profiles.js';
import { chooseKernel } from '../src/kernel/eras.js';

const [input, output, flag, spec] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: strip-core.ts IN OUT [--profile P]\n');
  process.exit(2);
}
const report = readCoreFile(input, {
  kernel: chooseKernel(undefined),
  config: { bits: 64 },
  ...(flag === '--profile' && spec ? { profile: loadProfile(spec) } : {}),
});
const { core, close } = openCore(input);
const wanted = new Set<number>();
for (const t of report.threads) {
  const addrs = [t.registers.sp, ...t.frames.flatMap((f) => [f.address, f.state.delivery.sp])];
  for (const a of addrs) {
    const s = a === undefined ? undefined : loadAt(core, a);
    if (s) wanted.add(s.index);
  }
}
const bytes = stripCore(core, (s) => wanted.has(s.index));
close();
writeFileSync(output, bytes);
process.stdout.write(`${output}: ${bytes.length} bytes, memory of segments ${[...wanted].join(', ')}\n`);
