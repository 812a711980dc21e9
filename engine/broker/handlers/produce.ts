import { ErrorCode } from '../../protocol/errorCodes.js';
import type {
  PartitionProduceResponse,
  ProduceRequest,
  ProduceResponse,
} from '../../protocol/messages/produce.js';
import { InvalidBatchError, splitProducedBatches } from '../../protocol/recordBatch.js';
import type { AppendRefusal } from '../log/partitionLog.js';
import type { BrokerState, Handled } from './context.js';

const batchErrorCode: Record<InvalidBatchError['kind'], number> = {
  corrupt: ErrorCode.CORRUPT_MESSAGE,
  invalid: ErrorCode.INVALID_RECORD,
  magic: ErrorCode.INVALID_RECORD,
  compression: ErrorCode.UNSUPPORTED_COMPRESSION_TYPE,
};

const refusalCode: Record<AppendRefusal, number> = {
  fenced: ErrorCode.INVALID_PRODUCER_EPOCH,
  'out-of-order': ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER,
  invalid: ErrorCode.INVALID_RECORD,
};

/**
 * Validates and appends each partition's batches. The response waits until every append
 * is durable (fsynced under the default flush policy); acks=0 gets no response at all.
 */
export function handleProduce(
  b: BrokerState,
  req: ProduceRequest,
  version: number,
): Handled<ProduceResponse> {
  const pending: Promise<void>[] = [];
  const badAcks = req.acks !== 0 && req.acks !== 1 && req.acks !== -1;
  const responses = req.topicData.map((t) => ({
    name: t.name,
    partitionResponses: t.partitionData.map((p): PartitionProduceResponse => {
      const res: PartitionProduceResponse = {
        index: p.index,
        errorCode: ErrorCode.NONE,
        baseOffset: -1,
        logAppendTimeMs: -1,
        logStartOffset: -1,
      };
      if (badAcks) return { ...res, errorCode: ErrorCode.INVALID_REQUIRED_ACKS };
      const log = b.topics.partitionLog(t.name, p.index);
      if (!log) return { ...res, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION };
      if (b.topics.get(t.name)?.internal) return { ...res, errorCode: ErrorCode.INVALID_TOPIC_EXCEPTION };
      if (!p.records || p.records.length === 0) return { ...res, errorCode: ErrorCode.CORRUPT_MESSAGE };
      let batches: Buffer[];
      try {
        batches = splitProducedBatches(p.records, version >= 7);
      } catch (err) {
        if (err instanceof InvalidBatchError) {
          b.log.debug({ topic: t.name, partition: p.index, reason: err.message }, 'rejected produce');
          return { ...res, errorCode: batchErrorCode[err.kind] };
        }
        throw err;
      }
      if (batches.some((batch) => batch.length > log.config.maxMessageBytes)) {
        return { ...res, errorCode: ErrorCode.MESSAGE_TOO_LARGE };
      }
      const appended = log.appendProduced(batches);
      if ('refused' in appended) return { ...res, errorCode: refusalCode[appended.refused] };
      const { baseOffset, durable } = appended;
      if (req.acks !== 0) pending.push(durable);
      else durable.catch((err) => b.log.error({ topic: t.name, partition: p.index, err }, 'fsync failed'));
      return { ...res, baseOffset, logStartOffset: log.logStartOffset };
    }),
  }));
  if (req.acks === 0) return null;
  const response: ProduceResponse = { responses, throttleTimeMs: 0 };
  return pending.length === 0 ? response : Promise.all(pending).then(() => response);
}
