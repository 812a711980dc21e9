import { SingleBar } from 'cli-progress';

export interface Progress {
  add(n: number): void;
  stop(): void;
}

/**
 * Progress of long work on stdout, as Kafka's tools report theirs: a bar with rate and ETA when
 * stdout is a terminal, otherwise one plain line every `intervalMs` that logs and CI keep.
 */
export function progress(
  label: string,
  total: number,
  options: { stream?: NodeJS.WriteStream; intervalMs?: number; unit?: string } = {},
): Progress {
  const stream = options.stream ?? process.stdout;
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${options.unit ?? 'records'} | {rate}/s | ETA {eta_formatted}`,
    noTTYOutput: !stream.isTTY,
    notTTYSchedule: options.intervalMs ?? 2_000,
    hideCursor: stream.isTTY,
    etaBuffer: 50,
  });
  const started = Date.now();
  let value = 0;
  bar.start(Math.max(total, 1), 0, { rate: 0 });
  return {
    add(n) {
      value += n;
      const seconds = (Date.now() - started) / 1000;
      bar.update(value, { rate: seconds > 0 ? Math.round(value / seconds) : 0 });
    },
    stop() {
      bar.stop();
    },
  };
}
