import type { Reader } from '../reader.js';
import type { Writer } from '../writer.js';

// InitProducerId (api key 22), v0-1. Field names follow InitProducerIdRequest.json /
// InitProducerIdResponse.json. v1 is the same as v0 on the wire; v2+ is flexible (and v3 adds
// ProducerId/ProducerEpoch to the request), so it is not served.

export interface InitProducerIdRequest {
  /** null when the producer is idempotent but not transactional. */
  transactionalId: string | null;
  /** How long an idle transaction may stay open; only meaningful with a transactionalId. */
  transactionTimeoutMs: number;
}

export interface InitProducerIdResponse {
  /** Every version; from v1 the client throttles itself by it (KIP-219). */
  throttleTimeMs: number;
  errorCode: number;
  /** -1 with an error. */
  producerId: number;
  /** -1 with an error. */
  producerEpoch: number;
}

export function decodeInitProducerIdRequest(r: Reader, _version: number): InitProducerIdRequest {
  const transactionalId = r.nullableString();
  const transactionTimeoutMs = r.int32();
  return { transactionalId, transactionTimeoutMs };
}

export function encodeInitProducerIdResponse(w: Writer, _version: number, res: InitProducerIdResponse): void {
  w.int32(res.throttleTimeMs).int16(res.errorCode).int64(res.producerId).int16(res.producerEpoch);
}
