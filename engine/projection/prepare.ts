import type { KafkaMessage } from 'kafkajs';
import { DecodeError, schemaIdOf } from '../codec/index.js';
import type { EventContext, ProjectionSource, Row, TableResolver } from './definition.js';
import { ProjectionError } from './errors.js';

/** Where a bad event failed: the dead letter's `stage`. */
export type PoisonStage = 'DECODE' | 'PROJECT';

export interface Poison {
  stage: PoisonStage;
  error: Error;
}

/** One consumed record, after decoding and handling: rows per target, or why it is poison. */
export interface PreparedEvent {
  topic: string;
  partition: number;
  offset: number;
  message: KafkaMessage;
  /**
   * The rows emitted, in order: the first inline (most handlers emit one row per event: two
   * allocations less per event), the others in `more`. None for tombstones and poison events.
   */
  target: string | null;
  row: Row | null;
  more: { target: string; row: Row }[] | null;
  poison: Poison | null;
}

/** Calls `fn` for each row of the event, in emission order. */
export function eachRow(e: PreparedEvent, fn: (target: string, row: Row) => void): void {
  if (e.target === null) return;
  fn(e.target, e.row!);
  if (e.more) for (const m of e.more) fn(m.target, m.row);
}

/** Events decoded and handled between yields to the event loop (a few milliseconds of work). */
const YIELD_EVERY = 1000;

export interface ConsumedRecord {
  topic: string;
  partition: number;
  message: KafkaMessage;
}

/**
 * Loads the writer schemas a batch needs, once per unknown id. A registry that is down throws
 * (retriable: the batch waits); an id the registry does not know is remembered, and its events
 * become poison.
 */
async function loadSchemas(
  records: readonly ConsumedRecord[],
  sources: ReadonlyMap<string, ProjectionSource>,
): Promise<Map<string, Error>> {
  const failed = new Map<string, Error>();
  const wanted = new Map<string, { src: ProjectionSource; id: number; r: ConsumedRecord }>();
  for (const r of records) {
    const value = r.message.value;
    const src = sources.get(r.topic);
    if (!value || !src) continue;
    let id: number;
    try {
      id = schemaIdOf(value);
    } catch {
      continue; // decodeSync reports the framing error with its origin
    }
    if (src.decoder.isLoaded(id)) continue;
    const k = `${r.topic}\u0000${id}`;
    if (!wanted.has(k)) wanted.set(k, { src, id, r });
  }
  await Promise.all(
    [...wanted].map(async ([k, { src, id, r }]) => {
      try {
        await src.decoder.load(id, { topic: r.topic, partition: r.partition, offset: r.message.offset });
      } catch (err) {
        if ((err as { retriable?: boolean }).retriable) throw err;
        failed.set(k, err as Error);
      }
    }),
  );
  return failed;
}

/**
 * Decodes every record and runs its handler. Handlers and decoders are synchronous once the
 * schemas are loaded, so a batch is one tight loop; an event that fails either step is kept,
 * marked poison, so its offset still advances the checkpoint when it is dead-lettered.
 */
export async function prepareEvents(
  records: readonly ConsumedRecord[],
  sources: ReadonlyMap<string, ProjectionSource>,
  targets: ReadonlySet<string>,
  tables: TableResolver,
): Promise<PreparedEvent[]> {
  const failedSchemas = await loadSchemas(records, sources);
  const out = new Array<PreparedEvent>(records.length);
  let current: PreparedEvent | null = null;
  const emit = (target: string, row: Row) => {
    if (!targets.has(target)) {
      throw new ProjectionError(
        'SLUICE_PROJECTION_HANDLER_FAILED',
        `handler emitted a row for unknown target ${target}`,
      );
    }
    const e = current!;
    if (e.target === null) {
      e.target = target;
      e.row = row;
    } else (e.more ??= []).push({ target, row });
  };
  // One context object, refilled per event (handlers must not keep it): an allocation less per event.
  const ctx: { -readonly [K in keyof EventContext]: EventContext[K] } = {
    topic: '',
    partition: 0,
    offset: '',
    key: null,
    timestamp: 0,
    tables,
  };
  for (let i = 0; i < records.length; i++) {
    // Yield now and then: a write in flight needs the event loop to stream its COPY data.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
    const { topic, partition, message } = records[i]!;
    const offset = Number(message.offset);
    const event: PreparedEvent = {
      topic,
      partition,
      offset,
      message,
      target: null,
      row: null,
      more: null,
      poison: null,
    };
    out[i] = event;
    const value = message.value;
    const src = sources.get(topic);
    if (!value || !src) continue;
    const origin = { topic, partition, offset: message.offset };
    let decoded: unknown;
    try {
      const failed =
        failedSchemas.size > 0 && value.length >= 5
          ? failedSchemas.get(`${topic}\u0000${value.readInt32BE(1)}`)
          : undefined;
      if (failed && value[0] === 0) throw failed;
      decoded = src.decoder.decodeSync(value, origin);
    } catch (err) {
      if (err instanceof DecodeError && err.retriable) throw err;
      event.poison = { stage: 'DECODE', error: err as Error };
      continue;
    }
    ctx.topic = topic;
    ctx.partition = partition;
    ctx.offset = message.offset;
    ctx.key = message.key ?? null;
    ctx.timestamp = Number(message.timestamp);
    current = event;
    try {
      src.handle(decoded, emit, ctx);
    } catch (err) {
      event.target = null;
      event.row = null;
      event.more = null;
      event.poison = {
        stage: 'PROJECT',
        error:
          err instanceof ProjectionError
            ? err
            : new ProjectionError(
                'SLUICE_PROJECTION_HANDLER_FAILED',
                `handler for ${topic} failed at ${partition}@${message.offset}: ${(err as Error)?.message ?? err}`,
                { cause: err },
              ),
      };
    }
  }
  return out;
}
