import type { Reader } from './reader.js';
import type { Writer } from './writer.js';

/** Request header v1 (the non-flexible one): every request the broker serves uses it. */
export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export function decodeRequestHeader(r: Reader): RequestHeader {
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  const clientId = r.nullableString();
  return { apiKey, apiVersion, correlationId, clientId };
}

/** Response header v0: just the correlation id. */
export function encodeResponseHeader(w: Writer, correlationId: number): void {
  w.int32(correlationId);
}
