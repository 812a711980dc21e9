import { ErrorCode } from '../../protocol/errorCodes.js';
import type { FetchRequest, FetchResponse, PartitionData } from '../../protocol/messages/fetch.js';
import {
  BATCH_HEADER_SIZE,
  CONTROL_BIT,
  LOG_OVERHEAD,
  readBatchHeader,
  TRANSACTIONAL_BIT,
} from '../../protocol/recordBatch.js';
import { OffsetOutOfRangeError, type PartitionLog } from '../log/partitionLog.js';
import type { BrokerState } from './context.js';

/**
 * Fetch with long polling: read what is there; if it is less than min_bytes, wait for an
 * append to any requested partition (or max_wait_ms) and read again. Responses carry whole
 * batches, at least one even when it is larger than max_bytes, as Kafka does (KIP-74).
 */
export function handleFetch(b: BrokerState, req: FetchRequest, version: number): Promise<FetchResponse> {
  const maxBytes = version >= 3 ? req.maxBytes : Number.MAX_SAFE_INTEGER;
  const readCommitted = req.isolationLevel === 1;
  const read = (): { response: FetchResponse; bytes: number } => {
    let budget = maxBytes;
    let total = 0;
    const responses = req.topics.map((t) => ({
      topic: t.topic,
      partitions: t.partitions.map((p): PartitionData => {
        const out: PartitionData = {
          partitionIndex: p.partition,
          errorCode: ErrorCode.NONE,
          highWatermark: -1,
          lastStableOffset: -1,
          logStartOffset: -1,
          abortedTransactions: readCommitted ? [] : null,
          preferredReadReplica: -1,
          records: [],
        };
        const log = b.topics.partitionLog(t.topic, p.partition);
        if (!log) return { ...out, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
        out.highWatermark = log.logEndOffset;
        out.lastStableOffset = log.lastStableOffset;
        out.logStartOffset = log.logStartOffset;
        const limit = Math.min(p.partitionMaxBytes, budget);
        if (limit <= 0 && total > 0) return out;
        try {
          // read_committed stops at the last stable offset and lists the aborted transactions read.
          const upTo = readCommitted ? out.lastStableOffset : out.highWatermark;
          const { chunks, bytes, lastOffset } = log.read(p.fetchOffset, Math.max(limit, 1), upTo);
          budget -= bytes;
          total += bytes;
          out.records = chunks;
          if (readCommitted && bytes > 0)
            out.abortedTransactions = abortedIn(log, p.fetchOffset, lastOffset, chunks);
        } catch (err) {
          if (err instanceof OffsetOutOfRangeError)
            return { ...out, errorCode: ErrorCode.OFFSET_OUT_OF_RANGE };
          throw err;
        }
        return out;
      }),
    }));
    return {
      response: { throttleTimeMs: 0, errorCode: ErrorCode.NONE, sessionId: 0, responses },
      bytes: total,
    };
  };

  const first = read();
  const hasError = first.response.responses.some((t) =>
    t.partitions.some((p) => p.errorCode !== ErrorCode.NONE),
  );
  if (first.bytes >= req.minBytes || req.maxWaitMs <= 0 || hasError || b.closing) {
    return Promise.resolve(first.response);
  }
  return new Promise((resolve) => {
    const unsubscribe: (() => void)[] = [];
    let scheduled = false;
    const finish = (response: FetchResponse) => {
      clearTimeout(timer);
      for (const u of unsubscribe) u();
      resolve(response);
    };
    const timer = setTimeout(() => finish(read().response), req.maxWaitMs);
    const recheck = () => {
      if (scheduled) return;
      scheduled = true;
      // Coalesce a burst of appends into one re-read.
      setImmediate(() => {
        scheduled = false;
        const again = read();
        if (again.bytes >= req.minBytes) finish(again.response);
      });
    };
    for (const t of req.topics) {
      for (const p of t.partitions) {
        const log = b.topics.partitionLog(t.topic, p.partition);
        if (log) unsubscribe.push(log.onAppend(recheck));
      }
    }
    unsubscribe.push(b.onClose(() => finish(read().response)));
  });
}

/**
 * The aborted transactions a read_committed client needs for these chunks: those with
 * records in them, each listed at the first of its records present, in offset order. To a
 * correct client this is the same information as Kafka's list; kafkajs, which steps into at
 * most one listed transaction per record and matches the list by offset alone, needs it so.
 */
function abortedIn(
  log: PartitionLog,
  from: number,
  to: number,
  chunks: Buffer[],
): { producerId: number; firstOffset: number }[] {
  const batches: { producerId: number; baseOffset: number }[] = [];
  for (const buf of chunks) {
    for (let pos = 0; pos + BATCH_HEADER_SIZE <= buf.length; pos += LOG_OVERHEAD + buf.readInt32BE(pos + 8)) {
      const h = readBatchHeader(buf, pos);
      const transactional = (h.attributes & TRANSACTIONAL_BIT) !== 0 && (h.attributes & CONTROL_BIT) === 0;
      if (transactional) batches.push({ producerId: h.producerId, baseOffset: h.baseOffset });
    }
  }
  const out: { producerId: number; firstOffset: number }[] = [];
  for (const a of log.producers.abortedBetween(from, to)) {
    const first = batches.find(
      (b) => b.producerId === a.producerId && b.baseOffset >= a.firstOffset && b.baseOffset <= a.lastOffset,
    );
    if (first) out.push({ producerId: a.producerId, firstOffset: first.baseOffset });
  }
  return out.sort((x, y) => x.firstOffset - y.firstOffset);
}
