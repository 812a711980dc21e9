import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import {
  advanceCheckpoints,
  lockCheckpoints,
  type PartitionRef,
  recordErrors,
  tpKey,
} from './checkpoints.js';
import { errorRow } from './deadLetters.js';
import type { Row } from './definition.js';
import { ProjectionError, RowRejectedError } from './errors.js';
import { brokenConnection, classifyWriteError, sqlStateOf } from './pgErrors.js';
import { eachRow, type Poison, type PreparedEvent } from './prepare.js';
import { backoffMs, isRetriable } from './retry.js';
import type { EncodedRows, TargetWriter, WriteMode } from './targetWriter.js';

/** The offsets a batch covers on one partition: it starts at `from` and moves the checkpoint to `next`. */
export interface PartitionRange extends PartitionRef {
  from: number;
  next: number;
}

export interface WriteBatch {
  events: PreparedEvent[];
  ranges: PartitionRange[];
  /** The rows of every non-poison event, folded and encoded per target ahead of time (see `encode`). */
  encoded?: Map<string, EncodedRows> | null;
}

export interface WriteOutcome {
  /** Events whose rows were committed, per topic. */
  applied: Map<string, number>;
  /** Events already applied by an earlier transaction (a replay after a crash or a rebalance). */
  skipped: number;
  poisons: { event: PreparedEvent; poison: Poison }[];
  /** The committed checkpoints of the batch's partitions. */
  checkpoints: Map<string, number>;
}

export interface BatchWriterOptions {
  pool: Pool;
  projection: string;
  version: number;
  /** Writers in the order targets are written. */
  writers: ReadonlyMap<string, TargetWriter>;
  mode: WriteMode;
  /** Sends dead letters (before COMMIT: dead letters are at least once, projection_errors exactly once). */
  deadLetter(poisons: readonly { event: PreparedEvent; poison: Poison }[]): Promise<void>;
  log: Logger;
  onRetry(err: unknown): void;
  isStopping(): boolean;
}

/** A row-level failure of the fast path: the batch is written again, isolating the bad events. */
class NeedsIsolation extends Error {}

const SAVEPOINT = 'sluice_isolate';

/**
 * Writes one batch in one transaction: locks the batch's checkpoint rows, drops events below
 * them (already applied), merges the rows of the rest per target, records poison events, and
 * advances the checkpoints. The fast path writes everything at once; when the database rejects
 * a row, the transaction is redone with the events halved under savepoints until each bad
 * event is alone, and those are dead-lettered. Transient failures retry the whole transaction
 * with exponential backoff.
 */
export class BatchWriter {
  constructor(private readonly opts: BatchWriterOptions) {}

  /**
   * Folds and encodes the rows of a batch's good events, before its turn to write: CPU work
   * that then overlaps with the previous batch's database time. Null when some value cannot be
   * encoded; the write then finds the event at fault.
   */
  async encode(events: readonly PreparedEvent[]): Promise<Map<string, EncodedRows> | null> {
    const byTarget = rowsByTarget(events.filter((e) => e.poison === null));
    const out = new Map<string, EncodedRows>();
    try {
      for (const [name, writer] of this.opts.writers) {
        const rows = byTarget.get(name);
        if (rows && rows.length > 0) out.set(name, await writer.encode(rows, this.opts.mode));
      }
    } catch {
      return null;
    }
    return out;
  }

  async write(batch: WriteBatch): Promise<WriteOutcome> {
    let isolate = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.attempt(batch, isolate);
      } catch (err) {
        if (err instanceof NeedsIsolation) {
          isolate = true;
          continue;
        }
        // Transient database errors, and retriable Kafka ones (the dead-letter produce).
        const retriable = !(err instanceof ProjectionError) && isRetriable(err);
        if (!retriable || this.opts.isStopping()) {
          if (err instanceof ProjectionError) throw err;
          throw new ProjectionError(
            'SLUICE_PROJECTION_WRITE_FAILED',
            `projection ${this.opts.projection} v${this.opts.version}: batch write failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const delay = backoffMs(attempt);
        this.opts.onRetry(err);
        this.opts.log.warn(
          { err, attempt: attempt + 1, delayMs: Math.round(delay), sqlState: sqlStateOf(err) },
          'transient failure writing a batch; retrying',
        );
        await sleep(delay);
      }
    }
  }

  private async attempt(batch: WriteBatch, isolate: boolean): Promise<WriteOutcome> {
    const { pool, projection, version } = this.opts;
    const client = await pool.connect();
    // A connection dropped mid-transaction also emits 'error' on the checked-out client; the
    // failed query already reports it, so the event must not become an uncaught exception.
    const onClientError = (err: Error) => this.opts.log.debug({ err }, 'database connection lost');
    client.on('error', onClientError);
    let failure: unknown = null;
    try {
      if (this.opts.mode !== 'unnest') {
        for (const w of this.opts.writers.values()) await w.prepareSession(client);
      }
      await client.query('BEGIN');
      const stored = await lockCheckpoints(client, projection, version, batch.ranges);
      for (const r of batch.ranges) {
        const at = stored.get(tpKey(r.topic, r.partition));
        // Behind the batch's start: events between would never be applied. Only a reset of the
        // checkpoint while running gets here; the runner seeks again from the new checkpoint.
        if (at === undefined || at < r.from) {
          throw new ProjectionError(
            'SLUICE_PROJECTION_CHECKPOINT_MOVED',
            `checkpoint of ${r.topic}-${r.partition} is ${at ?? 'missing'}, batch starts at ${r.from}`,
          );
        }
      }
      const live = batch.events.filter((e) => e.offset >= stored.get(tpKey(e.topic, e.partition))!);
      const good = live.filter((e) => e.poison === null);
      const rejected = new Map<PreparedEvent, Poison>();
      if (isolate) await this.isolate(client, good, rejected);
      else {
        try {
          // Encoded ahead for the whole batch: still right unless a replay made events drop out.
          if (batch.encoded && live.length === batch.events.length)
            await this.writeEncoded(client, batch.encoded);
          else await this.writeEvents(client, good);
        } catch (err) {
          if (classifyWriteError(err) === 'row') throw new NeedsIsolation();
          throw err;
        }
      }
      const poisons = live
        .filter((e) => e.poison !== null || rejected.has(e))
        .map((event) => ({ event, poison: event.poison ?? rejected.get(event)! }));
      if (poisons.length > 0) {
        await recordErrors(
          client,
          projection,
          version,
          poisons.map(({ event, poison }) => errorRow({ ...event, poison })),
        );
        await this.opts.deadLetter(poisons);
      }
      const moved = batch.ranges.filter((r) => r.next > stored.get(tpKey(r.topic, r.partition))!);
      await advanceCheckpoints(client, projection, version, moved);
      await client.query('COMMIT');
      const applied = new Map<string, number>();
      for (const e of good) if (!rejected.has(e)) applied.set(e.topic, (applied.get(e.topic) ?? 0) + 1);
      const checkpoints = new Map(stored);
      for (const r of moved) checkpoints.set(tpKey(r.topic, r.partition), r.next);
      return { applied, skipped: batch.events.length - live.length, poisons, checkpoints };
    } catch (err) {
      failure = err;
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onClientError);
      client.release(failure !== null && brokenConnection(failure) ? (failure as Error) : undefined);
    }
  }

  /** The events' rows, grouped per target in event order, one bulk merge per target. */
  private async writeEvents(client: PoolClient, events: readonly PreparedEvent[]): Promise<void> {
    const byTarget = rowsByTarget(events);
    for (const [name, writer] of this.opts.writers) {
      const rows = byTarget.get(name);
      if (rows && rows.length > 0) await writer.write(client, rows, this.opts.mode);
    }
  }

  private async writeEncoded(client: PoolClient, encoded: Map<string, EncodedRows>): Promise<void> {
    for (const [name, writer] of this.opts.writers) {
      const rows = encoded.get(name);
      if (rows) await writer.writeEncoded(client, rows);
    }
  }

  /** Writes `events` under a savepoint; on a row-level failure, halves them until the culprits are alone. */
  private async isolate(
    client: PoolClient,
    events: readonly PreparedEvent[],
    rejected: Map<PreparedEvent, Poison>,
  ): Promise<void> {
    if (events.length === 0) return;
    await client.query(`SAVEPOINT ${SAVEPOINT}`);
    try {
      await this.writeEvents(client, events);
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      return;
    } catch (err) {
      if (classifyWriteError(err) !== 'row') throw err;
      await client.query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
      await client.query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
      if (events.length === 1) {
        const e = events[0]!;
        const state = sqlStateOf(err);
        const detail = (err as { detail?: string }).detail;
        rejected.set(e, {
          stage: 'PROJECT',
          error: new RowRejectedError(
            `rows of ${e.topic}-${e.partition}@${e.offset} rejected: ${(err as Error).message}` +
              `${state ? ` (SQLSTATE ${state})` : ''}${detail ? `: ${detail}` : ''}`,
            state,
            err,
          ),
        });
        return;
      }
    }
    const mid = events.length >> 1;
    await this.isolate(client, events.slice(0, mid), rejected);
    await this.isolate(client, events.slice(mid), rejected);
  }
}

function rowsByTarget(events: readonly PreparedEvent[]): Map<string, Row[]> {
  const byTarget = new Map<string, Row[]>();
  const add = (target: string, row: Row) => {
    let rows = byTarget.get(target);
    if (!rows) byTarget.set(target, (rows = []));
    rows.push(row);
  };
  for (const e of events) eachRow(e, add);
  return byTarget;
}
