#!/usr/bin/env node
// Runs the compiled CLI; `npm install` builds it (the `prepare` script).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'engine', 'cli.js');
if (!existsSync(compiled)) {
  process.stderr.write('sluice: not built yet; run `npm install` (or `npm run build`) first\n');
  process.exit(1);
}
await import(compiled);
