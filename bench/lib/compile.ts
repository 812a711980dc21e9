import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { progress } from './report.js';
import { repoRoot } from './root.js';

const root = repoRoot;

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (name.endsWith(ext) && !name.endsWith(`.test${ext}`)) newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/**
 * Compiles a TypeScript project with tsc when its output is missing or older than its sources
 * (a few seconds). Benches measure compiled JavaScript, as `npm start` runs it: under tsx every
 * function expression also goes through esbuild's keepNames helper, a cost production never pays.
 * Returns the absolute path of `entry`.
 */
export function ensureCompiled(o: {
  /** tsconfig file, relative to the repository. */
  project: string;
  /** The output file that must exist, relative to the repository. */
  entry: string;
  /** Output directory and source directories whose newest files are compared. */
  outDir: string;
  sources: string[];
  what: string;
}): string {
  const entry = join(root, o.entry);
  const newestSource = Math.max(...o.sources.map((s) => newestMtime(join(root, s), '.ts')));
  if (existsSync(entry) && newestMtime(join(root, o.outDir), '.js') >= newestSource) return entry;
  progress(`bench: ${o.what} is missing or older than its sources: building (tsc -p ${o.project})`);
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', o.project], { cwd: root, stdio: ['ignore', 2, 2] });
  // tsc still emits JavaScript when it reports type errors: run that rather than nothing.
  if (r.status !== 0 && !existsSync(entry)) throw new Error(`building ${o.what} failed`);
  if (r.status !== 0) progress('bench: tsc reported errors (above); measuring the JavaScript it emitted');
  return entry;
}

/** `bench/<name>.bench.ts` compiled (tsconfig.bench.json into bench/.out/build), for worker processes. */
export function ensureCompiledBench(name: string): string {
  return ensureCompiled({
    project: 'tsconfig.bench.json',
    entry: `bench/.out/build/bench/${name}.bench.js`,
    outDir: 'bench/.out/build',
    sources: ['engine', 'bench'],
    what: 'the compiled benches',
  });
}
