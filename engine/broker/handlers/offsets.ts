import { ErrorCode } from '../../protocol/errorCodes.js';
import type { DeleteRecordsRequest, DeleteRecordsResponse } from '../../protocol/messages/deleteRecords.js';
import type {
  ListOffsetsPartitionResponse,
  ListOffsetsRequest,
  ListOffsetsResponse,
} from '../../protocol/messages/listOffsets.js';
import { OffsetOutOfRangeError } from '../log/partitionLog.js';
import type { BrokerState } from './context.js';

const LATEST = -1;
const EARLIEST = -2;

/** ListOffsets: latest (-1), earliest (-2), or the first offset at or after a timestamp. */
export function handleListOffsets(
  b: BrokerState,
  req: ListOffsetsRequest,
  version: number,
): ListOffsetsResponse {
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p): ListOffsetsPartitionResponse => {
        const res = {
          partitionIndex: p.partitionIndex,
          errorCode: ErrorCode.NONE,
          oldStyleOffsets: [] as number[],
        };
        const log = b.topics.partitionLog(t.name, p.partitionIndex);
        if (!log)
          return { ...res, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, timestamp: -1, offset: -1 };
        let found: { offset: number; timestamp: number } | null;
        // read_committed clients see the last stable offset as the end.
        const end = req.isolationLevel === 1 ? log.lastStableOffset : log.logEndOffset;
        if (p.timestamp === LATEST) found = { offset: end, timestamp: -1 };
        else if (p.timestamp === EARLIEST) found = { offset: log.logStartOffset, timestamp: -1 };
        else found = log.offsetForTimestamp(p.timestamp);
        if (version === 0) {
          // v0 answers a list of offsets; clients use its first element.
          const offsets = found ? [found.offset] : [];
          return {
            ...res,
            oldStyleOffsets: offsets.slice(0, Math.max(0, p.maxNumOffsets)),
            timestamp: -1,
            offset: -1,
          };
        }
        return { ...res, timestamp: found?.timestamp ?? -1, offset: found?.offset ?? -1 };
      }),
    })),
  };
}

/** DeleteRecords: offset -1 means the high watermark. */
export function handleDeleteRecords(b: BrokerState, req: DeleteRecordsRequest): DeleteRecordsResponse {
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        const log = b.topics.partitionLog(t.name, p.partitionIndex);
        if (!log) {
          return {
            partitionIndex: p.partitionIndex,
            lowWatermark: -1,
            errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
          };
        }
        try {
          const target = p.offset === -1 ? log.logEndOffset : p.offset;
          return {
            partitionIndex: p.partitionIndex,
            lowWatermark: log.deleteRecordsBefore(target),
            errorCode: 0,
          };
        } catch (err) {
          if (!(err instanceof OffsetOutOfRangeError)) throw err;
          return {
            partitionIndex: p.partitionIndex,
            lowWatermark: -1,
            errorCode: ErrorCode.OFFSET_OUT_OF_RANGE,
          };
        }
      }),
    })),
  };
}
