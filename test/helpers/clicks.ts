/**
 * The click-count fixture several topology tests share: `clicks` keyed k0..kN in, counts per key
 * out on `click-counts` (int64), and the waits and reads around it.
 */
import type { Kafka } from 'kafkajs';
import type { Registry } from 'prom-client';
import { readRanges, topicRanges } from '../../engine/replay/index.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A metric's values added up, over those with all of `labels`. */
export async function metricSum(
  reg: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = reg.getSingleMetric(name);
  if (!metric) return 0;
  return (await metric.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
    .reduce((s, v) => s + v.value, 0);
}

/** `n` records on `clicks`, keys k0..k(keys-1) in turn, `batch` per send. */
export async function produceClicks(kafka: Kafka, n: number, keys: number, batch = 500): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  const messages = Array.from({ length: n }, (_, i) => ({ key: `k${i % keys}`, value: 'x' }));
  for (let i = 0; i < messages.length; i += batch)
    await producer.send({ topic: 'clicks', messages: messages.slice(i, i + batch) });
  await producer.disconnect();
}

/** The last count per key on `click-counts` (read_committed, to its end). */
export async function lastCounts(kafka: Kafka): Promise<Map<string, bigint>> {
  const admin = kafka.admin();
  await admin.connect();
  const ranges = await topicRanges(admin, 'click-counts', 'earliest').finally(() => admin.disconnect());
  const last = new Map<string, bigint>();
  await readRanges(kafka, ranges, async (_r, messages) => {
    for (const m of messages) last.set(m.key!.toString(), m.value!.readBigInt64BE(0));
  });
  return last;
}
