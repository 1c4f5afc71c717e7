/**
 * Bundles the CLI into one CommonJS script (dist/sigframe.cjs) that cli/bin.cjs starts with V8's
 * code cache. Why: on Node 20 (no module.enableCompileCache) the ESM loader compiles yargs' ~40
 * modules and ours on every start, which alone took longer than `node -e 0`; one script with a code
 * cache skips parsing and compiling. `npm run bench` measures the result against `node -e 0`.
 *
 * One dependency fix is applied while bundling, for the same reason: string-width (used by yargs'
 * cliui and wrap-ansi, three copies) constructs an Intl.Segmenter when it loads, which costs
 * ~8 ms of ICU setup, and 7.x segments every string, which made yargs' help layout (built on every
 * command, not only --help) take ~20 ms. The segmenter is created on first use, and strings of
 * printable ASCII, whose width is their length, skip it. The output is the same.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SEGMENTER = 'const segmenter = new Intl.Segmenter();';
const EXPORT = 'export default function stringWidth(';

/** @type {import('esbuild').Plugin} */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onLoad({ filter: /[\\/]string-width[\\/]index\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (!source.includes(SEGMENTER) || !source.includes(EXPORT)) {
        throw new Error(
          `${args.path}: string-width changed; re-check the startup fix in scripts/bundle-cli.mjs`,
        );
      }
      const contents =
        source
          .replace(
            SEGMENTER,
            'let segmenterInstance;\nconst segmenter = { segment: (s) => (segmenterInstance ??= new Intl.Segmenter()).segment(s) };',
          )
          .replace(EXPORT, 'function stringWidthUnicode(') +
        '\nconst PRINTABLE_ASCII = /^[\\x20-\\x7e]*$/;\n' +
        'export default function stringWidth(s, options) {\n' +
        "  return typeof s === 'string' && PRINTABLE_ASCII.test(s) ? s.length : stringWidthUnicode(s, options);\n" +
        '}\n';
      return { contents, loader: 'js' };
    });
  },
};

const outfile = join(root, 'dist', 'sigframe.cjs');
const result = await build({
  entryPoints: [join(root, 'cli', 'main.ts')],
  outfile,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // The bundle is run by cli/bin.cjs through vm.Script, which compiles a function body, not a file.
  banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__importMetaUrl' },
  plugins: [lazyStringWidth],
  logLevel: 'warning',
  legalComments: 'none',
});
const code = result.outputFiles[0].text;
// cli/bin.cjs runs the bundle through vm.Script, which has no dynamic import: an import() that
// esbuild leaves (of a node: builtin) would fail only when its command runs.
const dynamic = /\bimport\((["'`])([^"'`]*)\1\)/.exec(code);
if (dynamic)
  throw new Error(`the bundle keeps import(${dynamic[1]}${dynamic[2]}${dynamic[1]}): import it statically`);
// V8 accepts a code cache for any source of the same length, so the cache file is named by a hash
// of the bundle (cli/bin.cjs reads it from the first line), and caches of older builds go.
const id = createHash('sha256').update(code).digest('hex').slice(0, 16);
for (const f of await readdir(join(root, 'dist'))) {
  if (f.endsWith('.v8-cache')) await rm(join(root, 'dist', f));
}
await writeFile(outfile, `// sigframe build ${id}\n${code}`);

// Write the code cache now, from a run that compiles the common path (yargs, the size model),
// rather than from whatever the first user command happens to be.
spawnSync(process.execPath, [join(root, 'cli', 'bin.cjs'), 'size', '--profile', 'intel-sapphire-rapids'], {
  stdio: 'ignore',
});
