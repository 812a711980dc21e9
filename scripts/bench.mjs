#!/usr/bin/env node
// Runs the benches: `npm run bench` runs every bench/*.bench.ts in turn; `npm run bench --
// <subject> [args]` runs bench/<subject>.bench.ts with the remaining arguments (e.g.
// `npm run bench -- broker --json`). Each bench runs as `node --import tsx bench/<subject>.bench.ts`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const benchDir = join(root, 'bench');
const args = process.argv.slice(2);
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();

let subjects = available;
if (args.length > 0 && !args[0].startsWith('-')) {
  const subject = args.shift();
  if (!existsSync(join(benchDir, `${subject}.bench.ts`))) {
    process.stderr.write(
      `bench: no bench/${subject}.bench.ts; available: ${available.join(', ') || 'none'}\n`,
    );
    process.exit(2);
  }
  subjects = [subject];
}
if (subjects.length === 0) {
  process.stderr.write('bench: no bench/*.bench.ts found\n');
  process.exit(1);
}

let exitCode = 0;
for (const subject of subjects) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, `${subject}.bench.ts`), ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'warn' },
  });
  if (r.status !== 0) {
    exitCode = exitCode || (r.status ?? 1);
    process.stderr.write(`bench: ${subject} failed (${r.status ?? r.signal})\n`);
  }
}
process.exit(exitCode);
