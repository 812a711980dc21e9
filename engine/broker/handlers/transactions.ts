import { ErrorCode } from '../../protocol/errorCodes.js';
import type {
  AddOffsetsToTxnRequest,
  AddOffsetsToTxnResponse,
} from '../../protocol/messages/addOffsetsToTxn.js';
import type {
  AddPartitionsToTxnRequest,
  AddPartitionsToTxnResponse,
} from '../../protocol/messages/addPartitionsToTxn.js';
import type { EndTxnRequest, EndTxnResponse } from '../../protocol/messages/endTxn.js';
import type {
  InitProducerIdRequest,
  InitProducerIdResponse,
} from '../../protocol/messages/initProducerId.js';
import type {
  TxnOffsetCommitRequest,
  TxnOffsetCommitResponse,
} from '../../protocol/messages/txnOffsetCommit.js';
import type { BrokerState } from './context.js';

/** The transaction APIs translate wire messages to the transaction coordinator and back. */
export async function handleInitProducerId(
  b: BrokerState,
  req: InitProducerIdRequest,
): Promise<InitProducerIdResponse> {
  const res = await b.transactions.initProducerId(req.transactionalId, req.transactionTimeoutMs);
  return { throttleTimeMs: 0, ...res };
}

export async function handleAddPartitionsToTxn(
  b: BrokerState,
  req: AddPartitionsToTxnRequest,
): Promise<AddPartitionsToTxnResponse> {
  const results = await b.transactions.addPartitions(
    req.transactionalId,
    req.producerId,
    req.producerEpoch,
    req.topics,
  );
  return {
    throttleTimeMs: 0,
    resultsByTopic: results.map((t) => ({
      name: t.name,
      resultsByPartition: t.results.map((r) => ({
        partitionIndex: r.partition,
        partitionErrorCode: r.errorCode,
      })),
    })),
  };
}

export async function handleAddOffsetsToTxn(
  b: BrokerState,
  req: AddOffsetsToTxnRequest,
): Promise<AddOffsetsToTxnResponse> {
  const errorCode = await b.transactions.addOffsets(
    req.transactionalId,
    req.producerId,
    req.producerEpoch,
    req.groupId,
  );
  return { throttleTimeMs: 0, errorCode };
}

export async function handleEndTxn(b: BrokerState, req: EndTxnRequest): Promise<EndTxnResponse> {
  const errorCode = await b.transactions.endTxn(
    req.transactionalId,
    req.producerId,
    req.producerEpoch,
    req.committed,
  );
  return { throttleTimeMs: 0, errorCode };
}

/** Offsets held for the transaction: visible to the group only once it commits. */
export async function handleTxnOffsetCommit(
  b: BrokerState,
  req: TxnOffsetCommitRequest,
): Promise<TxnOffsetCommitResponse> {
  const check = b.transactions.checkProducer(req.transactionalId, req.producerId, req.producerEpoch);
  const offsets = req.topics.flatMap((t) =>
    t.partitions.map((p) => ({
      topic: t.name,
      partition: p.partitionIndex,
      offset: p.committedOffset,
      metadata: p.committedMetadata,
    })),
  );
  const known = offsets.filter((o) => b.topics.partitionLog(o.topic, o.partition));
  const results =
    check === ErrorCode.NONE
      ? await b.groups.txnCommitOffsets({ groupId: req.groupId, producerId: req.producerId, offsets: known })
      : [];
  const code = new Map(results.map((r) => [`${r.topic}\0${r.partition}`, r.errorCode]));
  return {
    throttleTimeMs: 0,
    topics: req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => ({
        partitionIndex: p.partitionIndex,
        errorCode:
          check !== ErrorCode.NONE
            ? check
            : (code.get(`${t.name}\0${p.partitionIndex}`) ?? ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
      })),
    })),
  };
}
