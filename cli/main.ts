import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { packageRoot } from '../layouts/paths.js';
import * as build from './commands/build.js';
import * as capture from './commands/capture.js';
import * as compat from './commands/compat.js';
import * as convert from './commands/convert.js';
import * as core from './commands/core.js';
import * as cpuid from './commands/cpuid.js';
import * as decode from './commands/decode.js';
import * as diff from './commands/diff.js';
import * as layout from './commands/layout.js';
import * as map from './commands/map.js';
import * as profiles from './commands/profiles.js';
import * as sigreturn from './commands/sigreturn.js';
import * as size from './commands/size.js';
import { EXIT_BAD_INPUT, reportError } from './run.js';

// A reader that stops early (`| head`) closes the pipe: that ends the output, it is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

// The command modules only declare options; each handler imports the library when it runs, so
// `sigframe --help` does not pay for loading the model.
void yargs(hideBin(process.argv))
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
  .option('json', { type: 'boolean', default: false, describe: 'print one JSON object instead of tables' })
  .demandCommand(1, 'give a command; see --help')
  .strict()
  .recommendCommands()
  .help()
  .alias('h', 'help')
  // Named, not found by yargs: from the bundle it would look for package.json from the cwd.
  .version(JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version)
  .wrap(Math.min(110, process.stdout.columns || 110))
  .fail((msg, err) => {
    if (err) throw err;
    process.stderr.write(`sigframe: ${msg}\nRun 'sigframe --help' for usage.\n`);
    process.exit(EXIT_BAD_INPUT);
  })
  .parseAsync()
  .catch((e: unknown) => {
    process.exitCode = reportError(e);
  });
