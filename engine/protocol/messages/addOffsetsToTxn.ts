import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// AddOffsetsToTxn (api key 25), v0-1. Field names follow AddOffsetsToTxnRequest.json /
// AddOffsetsToTxnResponse.json. v1 and v2 are the same as v0 on the wire; v3+ is flexible.

export interface AddOffsetsToTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  /** The consumer group whose offsets the transaction will commit (with TxnOffsetCommit). */
  groupId: string;
}

export interface AddOffsetsToTxnResponse {
  /** Every version; from v1 the client throttles itself by it (KIP-219). */
  throttleTimeMs: number;
  errorCode: number;
}

export function decodeAddOffsetsToTxnRequest(r: Reader, _version: number): AddOffsetsToTxnRequest {
  const transactionalId = r.string();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const groupId = r.string();
  return { transactionalId, producerId, producerEpoch, groupId };
}

export function encodeAddOffsetsToTxnResponse(
  w: Writer,
  _version: number,
  res: AddOffsetsToTxnResponse,
): void {
  w.int32(res.throttleTimeMs).int16(res.errorCode);
}
