import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nowMs } from './stats.js';

/**
 * Everything a bench starts (child processes, temporary directories) is registered here and
 * undone on every way out: normal end, thrown error, Ctrl-C, SIGTERM. Cleanups are
 * synchronous so they also run from the process 'exit' event.
 */
const cleanups = new Map<number, () => void>();
let nextId = 0;
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runCleanups);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      runCleanups();
      process.exit(code);
    });
  }
}

/** Registers a synchronous cleanup; the returned function runs it now and unregisters it. */
export function onCleanup(fn: () => void): () => void {
  install();
  const id = nextId++;
  cleanups.set(id, fn);
  return () => {
    if (cleanups.delete(id)) fn();
  };
}

export function runCleanups(): void {
  const fns = [...cleanups.values()].reverse();
  cleanups.clear();
  for (const fn of fns) {
    try {
      fn();
    } catch (err) {
      process.stderr.write(`bench: cleanup failed: ${err instanceof Error ? err.message : err}\n`);
    }
  }
}

/** A fresh directory under os.tmpdir(), removed by `remove()` or at exit at the latest. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const remove = onCleanup(() => rmSync(path, { recursive: true, force: true }));
  return { path, remove };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal` to the child, or to its whole process group when it leads one (detached). */
function killChild(child: ChildProcess, signal: NodeJS.Signals, group: boolean): void {
  if (!alive(child)) return;
  if (group && child.pid) {
    try {
      process.kill(-child.pid, signal);
      return;
    } catch {
      // group already gone: fall back to the child itself
    }
  }
  child.kill(signal);
}

/**
 * Spawns a child that is SIGKILLed at exit if it is still running then. With
 * `detached: true` the child leads its own process group and the whole group is killed.
 */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  const child = spawn(cmd, args, opts);
  const group = opts.detached === true;
  const forget = onCleanup(() => killChild(child, 'SIGKILL', group));
  child.once('exit', () => forget());
  return child;
}

/** Waits for a child to exit; SIGTERM, then SIGKILL after `graceMs`. */
export function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  return new Promise((resolve) => {
    if (!alive(child)) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** From just before spawn until the child exited and its output was drained. */
  ms: number;
  /** user+system CPU milliseconds of the command (null unless asked for with `cpu`). */
  cpuMs: number | null;
}

/** The shell's `times` prints its own and then its children's user/system times. */
const TIMES_LINE = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/;

/**
 * Runs a command to completion, timing it from spawn to close. `onStdout` receives stdout
 * chunks (stdout is ignored without it); the run is killed after `timeoutMs`. With `cpu`,
 * the command runs under `sh -c '...; times'` so its CPU time is known when it exits.
 */
export function runTimed(
  cmd: string,
  args: string[],
  opts: {
    onStdout?: (chunk: Buffer) => void;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    cpu?: boolean;
  } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const [file, argv] = opts.cpu
      ? ['sh', ['-c', '"$0" "$@"; c=$?; times >&2; exit $c', cmd, ...args]]
      : [cmd, args];
    const start = nowMs();
    const child = spawnTracked(file, argv, {
      stdio: ['ignore', opts.onStdout ? 'pipe' : 'ignore', 'pipe'],
      env: opts.env ?? process.env,
      detached: opts.cpu === true,
    });
    let stderr = '';
    let timedOut = false;
    child.stderr?.on('data', (d) => {
      stderr += d;
      if (stderr.length > 128 * 1024) stderr = stderr.slice(-64 * 1024);
    });
    if (opts.onStdout) child.stdout?.on('data', opts.onStdout);
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killChild(child, 'SIGKILL', opts.cpu === true);
        }, opts.timeoutMs)
      : null;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      const ms = nowMs() - start;
      if (timer) clearTimeout(timer);
      let cpuMs: number | null = null;
      if (opts.cpu) {
        const lines = stderr.trimEnd().split('\n');
        const m = TIMES_LINE.exec(lines.at(-1)?.trim() ?? '');
        if (m && lines.length >= 2 && TIMES_LINE.test(lines.at(-2)?.trim() ?? '')) {
          cpuMs = (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
          stderr = lines.slice(0, -2).join('\n');
        }
      }
      if (timedOut) reject(new Error(`${cmd} timed out after ${opts.timeoutMs} ms: ${stderr.trim()}`));
      else resolve({ code, signal, stderr, ms, cpuMs });
    });
  });
}
