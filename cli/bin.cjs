#!/usr/bin/env node
'use strict';
/*
 * The `sigframe` command. It runs dist/sigframe.cjs (cli/main.ts bundled by
 * scripts/bundle-cli.mjs) from V8's code cache, so that a start does not parse and compile the CLI
 * and yargs again: Node 20 has no module.enableCompileCache. The cache is written beside the bundle
 * after a run that had none or whose cache V8 rejected (another Node version); when that directory
 * is read-only, sigframe runs the same, only slower to start. `npm run bench` measures it.
 */
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { wrap } = require('node:module');
const { Script } = require('node:vm');

const bundle = join(__dirname, '..', 'dist', 'sigframe.cjs');

let source;
try {
  source = readFileSync(bundle, 'utf8');
} catch {
  process.stderr.write(`sigframe: ${bundle} is missing; run \`npm run build\` in the sigframe package\n`);
  process.exit(2);
}
// Named by the bundle's hash (its first line): V8 checks a cache against the source's length only.
const build = /^\/\/ sigframe build ([0-9a-f]{16})\n/.exec(source);
const cacheFile = build ? `${bundle}.${build[1]}.v8-cache` : undefined;
let cachedData;
try {
  cachedData = cacheFile ? readFileSync(cacheFile) : undefined;
} catch {
  cachedData = undefined;
}
const script = new Script(wrap(source), { filename: bundle, cachedData });
if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // A read-only install: start without the cache.
    }
  });
}
const mod = { exports: {} };
script.runInThisContext()(mod.exports, require, mod, bundle, join(__dirname, '..', 'dist'));
