/** Timing and summary statistics shared by the benches. */

/** Milliseconds since an arbitrary origin, with sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Runs `fn` and returns its result with the wall-clock time it took, in milliseconds. */
export async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const start = nowMs();
  const value = await fn();
  return { ms: nowMs() - start, value };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** 1 MB = 10^6 bytes throughout the benches (as disk and network rates are usually quoted). */
export const MB = 1_000_000;

export function mbPerSec(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

export function perSec(count: number, ms: number): number {
  return count / (ms / 1000);
}
