import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// EndTxn (api key 26), v0-1. Field names follow EndTxnRequest.json / EndTxnResponse.json.
// v1 and v2 are the same as v0 on the wire; v3+ is flexible.

export interface EndTxnRequest {
  transactionalId: string;
  producerId: number;
  producerEpoch: number;
  /** true to commit the transaction, false to abort it. */
  committed: boolean;
}

export interface EndTxnResponse {
  /** Every version; from v1 the client throttles itself by it (KIP-219). */
  throttleTimeMs: number;
  errorCode: number;
}

export function decodeEndTxnRequest(r: Reader, _version: number): EndTxnRequest {
  const transactionalId = r.string();
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const committed = r.boolean();
  return { transactionalId, producerId, producerEpoch, committed };
}

export function encodeEndTxnResponse(w: Writer, _version: number, res: EndTxnResponse): void {
  w.int32(res.throttleTimeMs).int16(res.errorCode);
}
