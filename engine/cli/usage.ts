/** A command-line mistake: exit code 2 and the usage text. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses repeated `KEY=VALUE` options. */
export function parseKeyValues(list: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`${flag} expects KEY=VALUE, got "${kv}"`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export function parseHostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(v);
  if (!m) throw new UsageError(`${flag} expects HOST:PORT, got "${v}"`);
  return { host: m[1], port: Number(m[2]) };
}

/** Runs until SIGINT/SIGTERM, then closes and exits 0 (1 if closing fails). */
export function closeOnSignal(close: () => Promise<void>): void {
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    close().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`sluice: shutdown failed: ${err instanceof Error ? err.message : err}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
