import type { Logger } from 'pino';
import { ErrorCode } from '../protocol/errorCodes.js';
import { encodeBatch } from '../protocol/recordBatch.js';
import type { GroupCoordinator } from './groupCoordinator.js';
import type { TopicRegistry } from './topicRegistry.js';

export const TRANSACTION_STATE_TOPIC = '__transaction_state';
const PRODUCER_ID_BLOCK_KEY = '\u0000producer-id-block';
const PRODUCER_ID_BLOCK = 1000;
const MAX_EPOCH = 32767;

type TxnState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort';

interface TxnMetadata {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  timeoutMs: number;
  state: TxnState;
  /** `topic\0partition` of every partition written in the open transaction. */
  partitions: string[];
  groups: string[];
  startedAt: number;
  updatedAt: number;
}

export interface TransactionCoordinatorOptions {
  topics: TopicRegistry;
  groups: GroupCoordinator;
  log: Logger;
  /** Kafka's transaction.max.timeout.ms. */
  maxTimeoutMs: number;
  /** Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms. */
  abortCheckIntervalMs: number;
  now?: () => number;
}

const { NONE } = ErrorCode;

/**
 * Kafka's transaction coordinator for a single node: producer ids and epochs
 * (InitProducerId fences older producers of a transactional.id and aborts their open
 * transaction), the partitions and groups of each transaction, and two-phase completion:
 * the Prepare state is persisted, markers are written to every partition (and pending
 * offsets settled), then the Complete state is persisted. State lives in the compacted
 * `__transaction_state` topic; after a crash, Prepare states are completed and open
 * transactions abort when they time out.
 */
export class TransactionCoordinator {
  private txns = new Map<string, TxnMetadata>();
  private nextProducerId = 0;
  private producerIdBlockEnd = 0;
  /** Operations on one transactional.id run one after another. */
  private chains = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(private readonly opts: TransactionCoordinatorOptions) {
    this.now = opts.now ?? Date.now;
    if (!opts.topics.get(TRANSACTION_STATE_TOPIC)) {
      opts.topics.create(TRANSACTION_STATE_TOPIC, 1, { 'cleanup.policy': 'compact' }, true);
    }
    this.load();
    this.timer = setInterval(() => this.abortTimedOut(), opts.abortCheckIntervalMs);
    this.timer.unref();
  }

  private get stateLog() {
    return this.opts.topics.partitionLog(TRANSACTION_STATE_TOPIC, 0)!;
  }

  private load(): void {
    for (const r of this.stateLog.records()) {
      if (!r.key) continue;
      const key = r.key.toString();
      if (key === PRODUCER_ID_BLOCK_KEY) {
        this.producerIdBlockEnd = JSON.parse(r.value!.toString()).end;
        this.nextProducerId = this.producerIdBlockEnd;
      } else if (r.value) this.txns.set(key, JSON.parse(r.value.toString()));
      else this.txns.delete(key);
    }
  }

  /** Finishes transactions that were between Prepare and Complete when the broker stopped. */
  async recover(): Promise<void> {
    for (const txn of this.txns.values()) {
      if (txn.state === 'PrepareCommit' || txn.state === 'PrepareAbort') {
        this.opts.log.info(
          { transactionalId: txn.transactionalId, state: txn.state },
          'completing transaction',
        );
        await this.serial(txn.transactionalId, () => this.complete(txn, txn.state === 'PrepareCommit'));
      }
    }
  }

  private serial<T>(txnId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(txnId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(txnId, settled);
    settled.then(() => {
      if (this.chains.get(txnId) === settled) this.chains.delete(txnId);
    });
    return next;
  }

  private persist(key: string, value: unknown): Promise<void> {
    const batch = encodeBatch({
      baseOffset: 0,
      records: [
        {
          offset: 0,
          timestamp: this.now(),
          key: Buffer.from(key),
          value: value === null ? null : Buffer.from(JSON.stringify(value)),
          headers: [],
        },
      ],
    });
    return this.stateLog.append([batch]).durable;
  }

  private async allocateProducerId(): Promise<number> {
    if (this.nextProducerId >= this.producerIdBlockEnd) {
      const end = this.producerIdBlockEnd + PRODUCER_ID_BLOCK;
      // The block is durable before any id from it is handed out, so ids never repeat after a crash.
      await this.persist(PRODUCER_ID_BLOCK_KEY, { end });
      this.nextProducerId = this.producerIdBlockEnd;
      this.producerIdBlockEnd = end;
    }
    return this.nextProducerId++;
  }

  initProducerId(
    transactionalId: string | null,
    timeoutMs: number,
  ): Promise<{ errorCode: number; producerId: number; producerEpoch: number }> {
    const fail = (errorCode: number) => ({ errorCode, producerId: -1, producerEpoch: -1 });
    if (transactionalId === null || transactionalId === '') {
      // An idempotent producer: a fresh id, epoch 0.
      return this.serial('\u0000idempotent', async () => ({
        errorCode: NONE,
        producerId: await this.allocateProducerId(),
        producerEpoch: 0,
      }));
    }
    if (timeoutMs <= 0 || timeoutMs > this.opts.maxTimeoutMs)
      return Promise.resolve(fail(ErrorCode.INVALID_TRANSACTION_TIMEOUT));
    return this.serial(transactionalId, async () => {
      let txn = this.txns.get(transactionalId);
      if (txn && (txn.state === 'PrepareCommit' || txn.state === 'PrepareAbort')) {
        return fail(ErrorCode.CONCURRENT_TRANSACTIONS);
      }
      if (txn?.state === 'Ongoing') {
        // Fence the previous producer: abort its transaction under a bumped epoch.
        await this.abortWithBumpedEpoch(txn);
        txn = this.txns.get(transactionalId)!;
      }
      const now = this.now();
      let producerId: number;
      let producerEpoch: number;
      if (!txn) {
        producerId = await this.allocateProducerId();
        producerEpoch = 0;
      } else if (txn.producerEpoch >= MAX_EPOCH - 1) {
        producerId = await this.allocateProducerId();
        producerEpoch = 0;
      } else {
        producerId = txn.producerId;
        producerEpoch = txn.producerEpoch + 1;
      }
      const next: TxnMetadata = {
        transactionalId,
        producerId,
        producerEpoch,
        timeoutMs,
        state: 'Empty',
        partitions: [],
        groups: [],
        startedAt: now,
        updatedAt: now,
      };
      await this.persist(transactionalId, next);
      this.txns.set(transactionalId, next);
      return { errorCode: NONE, producerId, producerEpoch };
    });
  }

  /** Checks producer id and epoch; NONE when `txn` may proceed. */
  private validate(txn: TxnMetadata | undefined, producerId: number, producerEpoch: number): number {
    if (!txn || txn.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
    if (producerEpoch !== txn.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
    if (txn.state === 'PrepareCommit' || txn.state === 'PrepareAbort')
      return ErrorCode.CONCURRENT_TRANSACTIONS;
    return NONE;
  }

  private async begin(txn: TxnMetadata, partitions: string[], groups: string[]): Promise<void> {
    const now = this.now();
    const starting = txn.state !== 'Ongoing';
    const next: TxnMetadata = {
      ...txn,
      state: 'Ongoing',
      partitions: [...new Set([...(starting ? [] : txn.partitions), ...partitions])],
      groups: [...new Set([...(starting ? [] : txn.groups), ...groups])],
      startedAt: starting ? now : txn.startedAt,
      updatedAt: now,
    };
    await this.persist(txn.transactionalId, next);
    this.txns.set(txn.transactionalId, next);
  }

  addPartitions(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    topics: { name: string; partitions: number[] }[],
  ): Promise<{ name: string; results: { partition: number; errorCode: number }[] }[]> {
    return this.serial(transactionalId, async () => {
      const txn = this.txns.get(transactionalId);
      let error = this.validate(txn, producerId, producerEpoch);
      const unknown = (t: string, p: number) => !this.opts.topics.partitionLog(t, p);
      if (error === NONE && topics.some((t) => t.partitions.some((p) => unknown(t.name, p)))) {
        return topics.map((t) => ({
          name: t.name,
          results: t.partitions.map((p) => ({
            partition: p,
            errorCode: unknown(t.name, p)
              ? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
              : ErrorCode.OPERATION_NOT_ATTEMPTED,
          })),
        }));
      }
      if (error === NONE) {
        await this.begin(
          txn!,
          topics.flatMap((t) => t.partitions.map((p) => `${t.name}\0${p}`)),
          [],
        ).catch(() => {
          error = ErrorCode.COORDINATOR_NOT_AVAILABLE;
        });
      }
      return topics.map((t) => ({
        name: t.name,
        results: t.partitions.map((partition) => ({ partition, errorCode: error })),
      }));
    });
  }

  /** For TxnOffsetCommit: whether `producerId`/`producerEpoch` is the current producer of an open transaction. */
  checkProducer(transactionalId: string, producerId: number, producerEpoch: number): number {
    const txn = this.txns.get(transactionalId);
    const error = this.validate(txn, producerId, producerEpoch);
    if (error !== NONE) return error;
    return txn!.state === 'Ongoing' ? NONE : ErrorCode.INVALID_TXN_STATE;
  }

  addOffsets(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    groupId: string,
  ): Promise<number> {
    return this.serial(transactionalId, async () => {
      const txn = this.txns.get(transactionalId);
      const error = this.validate(txn, producerId, producerEpoch);
      if (error !== NONE) return error;
      await this.begin(txn!, [], [groupId]);
      return NONE;
    });
  }

  endTxn(
    transactionalId: string,
    producerId: number,
    producerEpoch: number,
    commit: boolean,
  ): Promise<number> {
    return this.serial(transactionalId, async () => {
      const txn = this.txns.get(transactionalId);
      if (!txn || txn.producerId !== producerId) return ErrorCode.INVALID_PRODUCER_ID_MAPPING;
      if (producerEpoch !== txn.producerEpoch) return ErrorCode.INVALID_PRODUCER_EPOCH;
      // A retried EndTxn for a transaction that already ended the same way succeeds.
      if (txn.state === (commit ? 'CompleteCommit' : 'CompleteAbort')) return NONE;
      if (txn.state === 'PrepareCommit' || txn.state === 'PrepareAbort')
        return ErrorCode.CONCURRENT_TRANSACTIONS;
      if (txn.state !== 'Ongoing') return ErrorCode.INVALID_TXN_STATE;
      const prepared: TxnMetadata = {
        ...txn,
        state: commit ? 'PrepareCommit' : 'PrepareAbort',
        updatedAt: this.now(),
      };
      await this.persist(transactionalId, prepared);
      this.txns.set(transactionalId, prepared);
      // Crash tests stop the process between the two phases; recovery must finish the commit.
      if (process.env.SLUICE_BROKER_FAULT === 'crash-after-txn-prepare') process.kill(process.pid, 'SIGKILL');
      await this.complete(prepared, commit);
      return NONE;
    });
  }

  /** Phase two: markers in every partition, offsets settled, then the Complete state. */
  private async complete(txn: TxnMetadata, commit: boolean): Promise<void> {
    const writes = txn.partitions.map((tp) => {
      const [topic, p] = tp.split('\0');
      const log = this.opts.topics.partitionLog(topic, Number(p));
      // A partition of a deleted topic has nothing left to mark.
      return log ? log.appendControl(txn.producerId, txn.producerEpoch, commit) : Promise.resolve();
    });
    await Promise.all(writes);
    await this.opts.groups.completeTxnOffsets(txn.producerId, commit);
    const done: TxnMetadata = {
      ...txn,
      state: commit ? 'CompleteCommit' : 'CompleteAbort',
      partitions: [],
      groups: [],
      updatedAt: this.now(),
    };
    await this.persist(txn.transactionalId, done);
    this.txns.set(txn.transactionalId, done);
  }

  /** Fences the current producer and aborts its open transaction (timeout, or a new producer). */
  private async abortWithBumpedEpoch(txn: TxnMetadata): Promise<void> {
    const bumped: TxnMetadata = {
      ...txn,
      producerEpoch: txn.producerEpoch + 1,
      state: 'PrepareAbort',
      updatedAt: this.now(),
    };
    await this.persist(txn.transactionalId, bumped);
    this.txns.set(txn.transactionalId, bumped);
    await this.complete(bumped, false);
  }

  private abortTimedOut(): void {
    const now = this.now();
    for (const txn of this.txns.values()) {
      if (txn.state !== 'Ongoing' || now - txn.startedAt <= txn.timeoutMs) continue;
      this.serial(txn.transactionalId, async () => {
        const current = this.txns.get(txn.transactionalId);
        if (current?.state !== 'Ongoing' || current.startedAt !== txn.startedAt) return;
        this.opts.log.info({ transactionalId: txn.transactionalId }, 'aborting timed-out transaction');
        await this.abortWithBumpedEpoch(current);
      }).catch((err) => this.opts.log.error({ err, transactionalId: txn.transactionalId }, 'abort failed'));
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}
