import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { type Broker, type BrokerConfigInput, startBroker } from '../../engine/broker/index.js';

const root = new URL('../..', import.meta.url).pathname;

export function tempDir(prefix = 'sluice-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** An in-process broker on a free port with its own data directory, removed on stop. */
export async function withBroker(config: BrokerConfigInput = {}): Promise<{
  broker: Broker;
  bootstrap: string;
  dataDir: string;
  stop(): Promise<void>;
}> {
  const dir = tempDir('sluice-broker-');
  const broker = await startBroker({ port: 0, dataDir: dir.path, config });
  return {
    broker,
    bootstrap: broker.bootstrap,
    dataDir: dir.path,
    async stop() {
      await broker.close();
      dir.remove();
    },
  };
}

export function kafkaClient(bootstrap: string, clientId = 'sluice-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The broker as a separate process (`sluice broker` through tsx), for tests that kill -9 it.
 * Resolves once it prints its listening line. `env` adds environment variables (e.g.
 * SLUICE_BROKER_FAULT) to the child's.
 */
export async function spawnBroker(
  dataDir: string,
  port: number,
  overrides: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; bootstrap: string; kill(signal?: NodeJS.Signals): Promise<void> }> {
  const args = [
    '--import',
    'tsx',
    join(root, 'engine/cli.ts'),
    'broker',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    dataDir,
  ];
  for (const [k, v] of Object.entries(overrides)) args.push('--override', `${k}=${v}`);
  const proc = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SLUICE_LOG_LEVEL: process.env.SLUICE_LOG_LEVEL ?? 'warn', ...env },
  });
  let stderr = '';
  proc.stderr?.on('data', (d) => {
    stderr += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not start in 30 s: ${stderr}`)), 30_000);
    proc.stdout?.on('data', (d) => {
      if (String(d).includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before listening: ${stderr}`));
    });
  });
  return {
    proc,
    bootstrap: `127.0.0.1:${port}`,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      return new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill(signal);
      });
    },
  };
}
