import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, test } from 'node:test';
import { root } from './support/helpers.js';

// The data flow runs one way: each folder imports only from folders before it in this list (and
// from itself). README "Architecture" lists the same order.
const ORDER = [
  'src/schema',
  'layouts',
  'src/abi',
  'src/cpuid',
  'src/xsave',
  'src/profile',
  'src/kernel',
  'src/libc',
  'src/frame',
  'src/compat',
  'src/core',
  'src/report',
  'src/gen',
  'src/host',
  'src/io',
  'src/testing',
  'src',
  'cli',
];

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const path = join(dir, f);
    if (statSync(join(root, path)).isDirectory())
      return f === 'profiles' || f === 'fixtures' ? [] : sources(path);
    return f.endsWith('.ts') && !f.endsWith('.d.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  const parts = path.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? `src/${parts[1]}` : 'src';
  return parts[0]!;
}

const files = [...sources('src'), ...sources('layouts'), ...sources('cli')];
const checked = [...files, ...sources('test'), ...sources('scripts')];
const IMPORT = /(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g;

describe('architecture', () => {
  test('every import points down the data flow', () => {
    const up: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      for (const m of readFileSync(join(root, file), 'utf8').matchAll(IMPORT)) {
        const target = relative(root, normalize(join(root, dirname(file), m[1]!)));
        const to = folderOf(target);
        if (ORDER.indexOf(to) > ORDER.indexOf(from))
          up.push(`${file} imports ${target} (${to} is above ${from})`);
      }
    }
    assert.deepEqual(up, []);
    assert.deepEqual([...new Set(files.map(folderOf))].sort(), [...ORDER].sort(), 'ORDER names every folder');
  });

  test('no image offsets or component numbers as literals outside the tables, tests included', () => {
    // The tables: layouts/ (struct declarations, components, eras), the catalog derived from them,
    // and the synthetic CPUs of src/testing/profiles.ts (Intel's published offsets).
    const tables = new Set(['src/xsave/catalog.ts', 'src/testing/profiles.ts']);
    const literal =
      /\b(?:512n|464|468|472|480|520|528|536|560)\b|\bbit\(\d+\)|(?<![.\w])has\([^)]*,\s*\d+\)|\bnr\s*[<>=!]=?=?\s*(?:1?\d|62)\b|[~(|&]\s*3n\b/;
    const found: string[] = [];
    for (const file of checked.filter(
      (f) => !f.startsWith('layouts/') && !tables.has(f) && f !== 'test/architecture.test.ts',
    )) {
      readFileSync(join(root, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line
            .replace(/\/\/.*$/, '')
            .replace(/^\s*\*.*$/, '')
            .replace(/`[^`]*`|'[^']*'/g, "''");
          if (literal.test(code)) found.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(found, []);
  });
});
