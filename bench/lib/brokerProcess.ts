import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ensureCompiled } from './compile.js';
import { spawnTracked, stopChild } from './proc.js';
import { repoRoot } from './root.js';

const root = repoRoot;

export type BrokerCommand = 'dist' | 'tsx';

/**
 * Makes sure dist/ holds the broker compiled from the current engine/ sources: the bench
 * measures the compiled CLI (`node dist/engine/cli.js`) so that no loader sits in the
 * broker process. Rebuilds (`tsc -p tsconfig.build.json`, a few seconds) when stale.
 */
export function ensureCompiledBroker(): void {
  ensureCompiled({
    project: 'tsconfig.build.json',
    entry: 'dist/engine/cli.js',
    outDir: 'dist/engine',
    sources: ['engine'],
    what: 'the broker in dist/',
  });
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
