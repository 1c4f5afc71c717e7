import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageRoot } from '../layouts/paths.js';
import * as build from './commands/build.js';
import * as capture from './commands/capture.js';
import { joinNegativeValues } from './commands/common.js';
import * as compat from './commands/compat.js';
import * as convert from './commands/convert.js';
import * as core from './commands/core.js';
import * as cpuid from './commands/cpuid.js';
import * as decode from './commands/decode.js';
import * as diff from './commands/diff.js';
import * as gen from './commands/gen.js';
import * as layout from './commands/layout.js';
import * as map from './commands/map.js';
import * as profiles from './commands/profiles.js';
import * as sigreturn from './commands/sigreturn.js';
import * as size from './commands/size.js';
import { jsonMode, print, setJsonMode, toJson } from './output.js';
import { EXIT_OK, reportError, reportUsage } from './run.js';

// A reader that stops early (`| head`) closes the pipe: that ends the output, it is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const args = joinNegativeValues(hideBin(process.argv));
// Before yargs has parsed anything, for its own usage errors: --json asks for JSON on stdout then too.
const end = args.indexOf('--');
const opts = end < 0 ? args : args.slice(0, end);
setJsonMode(opts.some((a) => a === '--json' || a === '--json=true'));

// yargs prints help itself (console.log) and exits: under --json that text becomes {"help": ...}.
if (jsonMode() && opts.some((a) => a === '--help' || a === '-h')) {
  const help: string[] = [];
  console.log = (...parts: unknown[]) => help.push(parts.map(String).join(' '));
  process.on('exit', () => {
    if (help.length > 0) process.stdout.write(`${toJson({ help: help.join('\n') })}\n`);
  });
}

const version = () => JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;

// Help is wrapped to the terminal; where stdout is not one (a pipe, a test), to $COLUMNS if set.
const width = process.stdout.columns || Number(process.env.COLUMNS) || 110;

// The command modules only declare options; each handler imports the library when it runs, so
// `sigframe --help` does not pay for loading the model.
void yargs(args)
  .scriptName('sigframe')
  .usage(
    '$0 <command> [options]\n\nThe x86 Linux signal ABI, exact: XSAVE layouts, signal frames and sigaltstack sizes.',
  )
  .command(size)
  .command(capture)
  .command(decode)
  .command(sigreturn)
  .command(core)
  .command(build)
  .command(diff)
  .command(compat)
  .command(convert)
  .command(map)
  .command(cpuid)
  .command(layout)
  .command(profiles)
  .command(gen)
  .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of tables' })
  // Our own --version, not yargs': it prints {"version": ...} under --json. The version is read
  // from package.json by path: from the bundle yargs would look for it from the cwd.
  .version(false)
  .option('version', { type: 'boolean', describe: 'Show version number' })
  .middleware((argv) => {
    if (!argv.version) return;
    print(argv.json ? toJson({ version: version() }) : version());
    process.exit(EXIT_OK);
  }, true)
  .demandCommand(1, 'give a command')
  .strict()
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .epilogue(
    'Exit codes: 0 ok; 1 a check failed (a model mismatch, an incompatibility, a difference); 2 bad input or usage. With --json, stdout is one JSON object whatever the exit code; on exit 2 it is {"error": ...}.',
  )
  .wrap(Math.min(110, width))
  .fail((msg, err) => {
    // yargs' own parse errors (requiresArg: "Not enough arguments following: address") are usage.
    if (err && err.name !== 'YError') process.exit(reportError(err));
    // recommendCommands says only "Did you mean core?": say what was not a command.
    const word = args.find((a) => !a.startsWith('-'));
    process.exit(reportUsage(/^Did you mean/.test(msg) && word ? `unknown command '${word}'; ${msg}` : msg));
  })
  .parseAsync()
  .catch((e: unknown) => {
    process.exitCode = reportError(e);
  });
