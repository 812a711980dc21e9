import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnTracked, stopChild } from './proc.js';
import { progress } from './report.js';

const root = new URL('../..', import.meta.url).pathname;

export type BrokerCommand = 'dist' | 'tsx';

function newestMtime(dir: string, ext: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(p, ext));
    else if (name.endsWith(ext) && !name.endsWith(`.test${ext}`)) newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

/**
 * Makes sure dist/ holds the broker compiled from the current engine/ sources: the bench
 * measures the compiled CLI (`node dist/engine/cli.js`) so that no loader sits in the
 * broker process. Rebuilds (`tsc -p tsconfig.build.json`, a few seconds) when stale.
 */
export function ensureCompiledBroker(): void {
  const cli = join(root, 'dist/engine/cli.js');
  const fresh =
    existsSync(cli) &&
    newestMtime(join(root, 'dist/engine'), '.js') >= newestMtime(join(root, 'engine'), '.ts');
  if (fresh) return;
  progress('bench: dist/ is missing or older than engine/: building (tsc -p tsconfig.build.json)');
  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  // tsc still emits JavaScript when it reports type errors: run that rather than nothing.
  if (r.status !== 0 && !existsSync(cli)) throw new Error('building the broker failed');
  if (r.status !== 0) progress('bench: tsc reported errors (above); measuring the JavaScript it emitted');
}

export interface BrokerProcess {
  bootstrap: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM (clean shutdown: flush, seal, and the CPU profile written when profiling). */
  stop(): Promise<void>;
}

/**
 * Starts `sluice broker` in its own process on a free port and resolves once it listens.
 * `cpuProfile` = { dir, name } runs it under `node --cpu-prof`.
 */
export async function startBrokerProcess(opts: {
  dataDir: string;
  command?: BrokerCommand;
  cpuProfile?: { dir: string; name: string };
  overrides?: Record<string, string>;
}): Promise<BrokerProcess> {
  const command = opts.command ?? 'dist';
  const nodeArgs: string[] = [];
  if (opts.cpuProfile) {
    nodeArgs.push(
      '--cpu-prof',
      '--cpu-prof-dir',
      opts.cpuProfile.dir,
      '--cpu-prof-name',
      opts.cpuProfile.name,
    );
  }
  const entry =
    command === 'dist'
      ? [join(root, 'dist/engine/cli.js')]
      : ['--import', 'tsx', join(root, 'engine/cli.ts')];
  const args = [...nodeArgs, ...entry, 'broker', '--listen', '127.0.0.1:0', '--data-dir', opts.dataDir];
  for (const [k, v] of Object.entries(opts.overrides ?? {})) args.push('--override', `${k}=${v}`);
  const child = spawnTracked(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'warn' },
  });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
    // The broker logs at warn and above only: anything here is worth seeing.
    process.stderr.write(`[broker] ${d}`);
  });
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start in 30 s: ${stderr}`)), 30_000);
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening: ${stderr}`));
    });
  });
  return { bootstrap, pid: child.pid ?? -1, child, stop: () => stopChild(child) };
}
