import { spawn } from 'node:child_process';

const root = new URL('../..', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `sluice <args>` as a user runs it (the CLI through tsx), with DATABASE_URL unset unless
 * `env` gives it, feeding `stdin`; resolves with its exit code and outputs, or rejects (after a
 * SIGKILL) when it runs longer than `timeoutMs`.
 */
export function sluice(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const { DATABASE_URL: _, ...inherited } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'engine/cli.ts', ...args], {
      cwd: root,
      env: { ...inherited, SLUICE_LOG_LEVEL: 'silent', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sluice ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}
