import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root, found from this module's location so the same code works from src/ (run
 * through tsx) and from dist/src/ (the built bin).
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'layouts'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('sigframe: package root (with layouts/) not found above this module');
    dir = up;
  }
}

export const packageRoot = findRoot();
export const profilesDir = join(packageRoot, 'layouts', 'profiles');
export const nativeDir = join(packageRoot, 'native');
