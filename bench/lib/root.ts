import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The repository, whether a bench file runs from its source (tsx) or compiled into
 * bench/.out/build: the nearest directory above this file that holds package.json.
 */
export const repoRoot = (() => {
  let dir = dirname(new URL(import.meta.url).pathname);
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
