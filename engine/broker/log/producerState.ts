import { type BatchHeader, CONTROL_BIT, TRANSACTIONAL_BIT } from '../../protocol/recordBatch.js';

/** Kafka keeps the last five batches per producer to recognise retried duplicates. */
const CACHED_BATCHES = 5;
const MAX_SEQUENCE = 2 ** 31 - 1;

export const ControlType = { abort: 0, commit: 1 } as const;

interface CachedBatch {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
  lastOffset: number;
}

interface ProducerEntry {
  epoch: number;
  batches: CachedBatch[];
}

export interface AbortedTxn {
  producerId: number;
  firstOffset: number;
  /** Offset of the abort marker. */
  lastOffset: number;
}

export type ProduceCheck = { ok: true } | { duplicateOf: number } | { error: 'fenced' | 'out-of-order' };

export interface ProducerStateSnapshot {
  logEndOffset: number;
  producers: [number, ProducerEntry][];
  ongoing: [number, number][];
  aborted: AbortedTxn[];
}

const lastSequence = (h: BatchHeader) => (h.baseSequence + h.lastOffsetDelta) % (MAX_SEQUENCE + 1);

/**
 * Per-partition producer state, as Kafka's ProducerStateManager: epochs and recent sequence
 * numbers of idempotent producers (duplicates are acknowledged with their first offsets,
 * gaps rejected), open transactions (they bound the last stable offset), and aborted
 * transactions (read_committed fetches return them so clients drop those records).
 */
export class ProducerState {
  private producers = new Map<number, ProducerEntry>();
  /** producerId → first offset of its open transaction in this partition. */
  private ongoing = new Map<number, number>();
  private aborted: AbortedTxn[] = [];

  /** Validates a produced batch against what this partition has seen of its producer. */
  check(h: BatchHeader): ProduceCheck {
    if (h.producerId < 0 || (h.attributes & CONTROL_BIT) !== 0) return { ok: true };
    const entry = this.producers.get(h.producerId);
    if (entry && h.producerEpoch < entry.epoch) return { error: 'fenced' };
    if (h.baseSequence < 0) return { ok: true };
    if (!entry || h.producerEpoch > entry.epoch || entry.batches.length === 0) {
      return h.baseSequence === 0 ? { ok: true } : { error: 'out-of-order' };
    }
    const last = lastSequence(h);
    const dup = entry.batches.find((b) => b.firstSeq === h.baseSequence && b.lastSeq === last);
    if (dup) return { duplicateOf: dup.baseOffset };
    const prev = entry.batches[entry.batches.length - 1];
    const expected = prev.lastSeq === MAX_SEQUENCE ? 0 : prev.lastSeq + 1;
    return h.baseSequence === expected ? { ok: true } : { error: 'out-of-order' };
  }

  /**
   * Records a batch now in the log (after append, and when rebuilding from the log).
   * `controlType` is the marker type of a control batch.
   */
  apply(h: BatchHeader, controlType: number | null = null): void {
    if (h.producerId < 0) return;
    const lastOffset = h.baseOffset + h.lastOffsetDelta;
    let entry = this.producers.get(h.producerId);
    if (!entry || h.producerEpoch > entry.epoch) {
      entry = { epoch: h.producerEpoch, batches: [] };
      this.producers.set(h.producerId, entry);
    }
    if ((h.attributes & CONTROL_BIT) !== 0) {
      const first = this.ongoing.get(h.producerId);
      this.ongoing.delete(h.producerId);
      if (controlType === ControlType.abort && first !== undefined) {
        this.aborted.push({ producerId: h.producerId, firstOffset: first, lastOffset });
      }
      return;
    }
    if ((h.attributes & TRANSACTIONAL_BIT) !== 0 && !this.ongoing.has(h.producerId)) {
      this.ongoing.set(h.producerId, h.baseOffset);
    }
    if (h.baseSequence >= 0) {
      entry.batches.push({
        firstSeq: h.baseSequence,
        lastSeq: lastSequence(h),
        baseOffset: h.baseOffset,
        lastOffset,
      });
      if (entry.batches.length > CACHED_BATCHES) entry.batches.shift();
    }
  }

  /** The first offset not yet decided by a transaction: read_committed reads stop here. */
  lastStableOffset(highWatermark: number): number {
    let lso = highWatermark;
    for (const first of this.ongoing.values()) lso = Math.min(lso, first);
    return lso;
  }

  /**
   * Aborted transactions overlapping [from, to], by first offset: clients walk them in that
   * order (kafkajs steps into the next one when a record reaches its first offset).
   */
  abortedBetween(from: number, to: number): AbortedTxn[] {
    return this.aborted
      .filter((a) => a.lastOffset >= from && a.firstOffset <= to)
      .sort((a, b) => a.firstOffset - b.firstOffset);
  }

  isAborted(producerId: number, offset: number): boolean {
    return this.aborted.some(
      (a) => a.producerId === producerId && a.firstOffset <= offset && offset <= a.lastOffset,
    );
  }

  /** Forgets aborted transactions wholly below the log start. */
  pruneBelow(logStartOffset: number): void {
    this.aborted = this.aborted.filter((a) => a.lastOffset >= logStartOffset);
  }

  snapshot(logEndOffset: number): ProducerStateSnapshot {
    return {
      logEndOffset,
      producers: [...this.producers],
      ongoing: [...this.ongoing],
      aborted: this.aborted,
    };
  }

  static restore(s: ProducerStateSnapshot): ProducerState {
    const state = new ProducerState();
    state.producers = new Map(s.producers);
    state.ongoing = new Map(s.ongoing);
    state.aborted = s.aborted;
    return state;
  }
}
