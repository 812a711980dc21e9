// Shared helpers for the codec tests: drive kafkajs 2.2.4's own protocol encoders/decoders against
// ours. Named *.test.ts so tsconfig.build.json leaves it (and its kafkajs internals) out of dist;
// it holds no tests itself (those are in harness.check.test.ts).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { decodeRequestHeader } from '../header.js';
import { ProtocolError } from '../protocolError.js';
import { Reader } from '../reader.js';
import { Writer } from '../writer.js';

const require = createRequire(import.meta.url);

// kafkajs ships no types for its protocol internals; these describe the little the tests touch.
export interface KafkaJsEncoder {
  readonly buffer: Buffer;
  size(): number;
}
export interface KafkaJsRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<KafkaJsEncoder>;
}
export interface KafkaJsResponse {
  decode(raw: Buffer): Promise<unknown>;
  parse(data: unknown): Promise<unknown>;
}
interface KafkaJsDecoder {
  buffer: Buffer;
  offset: number;
}
interface KafkaJsDecoderClass {
  new (buf: Buffer): KafkaJsDecoder;
  prototype: Record<string, unknown>;
}

/** Loads a module under kafkajs/src/protocol/. */
export function kafkajs<T>(path: string): T {
  return require(`kafkajs/src/protocol/${path}`) as T;
}

/** kafkajs's request builder for one API version; args use kafkajs's own (not Kafka's) names. */
export function kafkajsRequest(
  api: string,
  version: number,
): (args: Record<string, unknown>) => KafkaJsRequest {
  return kafkajs(`requests/${api}/v${version}/request.js`);
}

export function kafkajsResponse(api: string, version: number): KafkaJsResponse {
  return kafkajs(`requests/${api}/v${version}/response.js`);
}

/** Versions kafkajs implements for an API (from its requests/<api>/index.js). */
export function kafkajsVersions(api: string): number[] {
  return kafkajs<{ versions: string[] }>(`requests/${api}/index.js`).versions.map(Number);
}

export function range(min: number, max: number): number[] {
  return Array.from({ length: max - min + 1 }, (_, i) => min + i);
}

const Decoder = kafkajs<KafkaJsDecoderClass>('decoder.js');

// Remember where each kafkajs Decoder stopped, keyed by its buffer: a response decoded by kafkajs
// must end exactly at the end of our bytes, or we wrote a field kafkajs does not expect.
const stoppedAt = new WeakMap<Buffer, number>();
for (const name of Object.getOwnPropertyNames(Decoder.prototype)) {
  const original = Decoder.prototype[name];
  if (name === 'constructor' || typeof original !== 'function') continue;
  Decoder.prototype[name] = function (this: KafkaJsDecoder, ...args: unknown[]) {
    const out: unknown = original.apply(this, args);
    if (out instanceof Promise) {
      return out.then((v) => {
        stoppedAt.set(this.buffer, this.offset);
        return v;
      });
    }
    stoppedAt.set(this.buffer, this.offset);
    return out;
  };
}

const frameRequest =
  kafkajs<
    (o: { correlationId: number; clientId: string; request: KafkaJsRequest }) => Promise<KafkaJsEncoder>
  >('request.js');

/** The request body kafkajs puts on the wire, after its size prefix and request header v1. */
export async function kafkajsRequestBody(req: KafkaJsRequest): Promise<Buffer> {
  const frame = (await frameRequest({ correlationId: 7, clientId: 'codec-test', request: req })).buffer;
  assert.equal(frame.readInt32BE(0), frame.length - 4);
  const r = new Reader(frame, 4);
  const header = decodeRequestHeader(r);
  assert.deepEqual(header, {
    apiKey: req.apiKey,
    apiVersion: req.apiVersion,
    correlationId: 7,
    clientId: 'codec-test',
  });
  return frame.subarray(r.offset);
}

export type Decode<T> = (r: Reader, version: number) => T;
export type Encode<T> = (w: Writer, version: number, res: T) => void;

/** Decodes a whole body and insists nothing is left over. */
export function decodeBody<T>(decode: Decode<T>, version: number, body: Buffer): T {
  const r = new Reader(body);
  const out = decode(r, version);
  assert.equal(r.remaining, 0, `v${version} decoder left ${r.remaining} bytes unread`);
  return out;
}

/** Encodes a request with kafkajs and decodes its body with ours. */
export async function viaKafkajs<T>(decode: Decode<T>, req: KafkaJsRequest): Promise<T> {
  return decodeBody(decode, req.apiVersion, await kafkajsRequestBody(req));
}

export function encodeBody<T>(encode: Encode<T>, version: number, res: T): Buffer {
  // A tiny first chunk makes the Writer grow and chain chunks, as it will for real responses.
  const w = new Writer(8);
  encode(w, version, res);
  return w.toBuffer();
}

/** kafkajs's decode (and parse, which throws on error codes) of a response body we encoded. */
export async function kafkajsReads(
  response: KafkaJsResponse,
  body: Buffer,
  opts: { parse?: boolean } = {},
): Promise<unknown> {
  const decoded = await response.decode(body);
  assert.equal(stoppedAt.get(body), body.length, 'kafkajs did not stop at the end of the response body');
  return opts.parse === false ? decoded : response.parse(decoded);
}

/** Every strict prefix of a valid body is a truncated frame: it must fail as a ProtocolError, nothing else. */
export function assertPrefixesThrow<T>(decode: Decode<T>, version: number, body: Buffer): void {
  for (let n = 0; n < body.length; n++) {
    const prefix = Buffer.from(body.subarray(0, n));
    assert.throws(
      () => decode(new Reader(prefix), version),
      (e: unknown) => e instanceof ProtocolError,
      `v${version}: prefix of ${n}/${body.length} bytes`,
    );
  }
}

/** Arbitrary bytes either decode or fail as a ProtocolError, never as a RangeError or the like. */
export function assertGarbageIsProtocolError<T>(decode: Decode<T>, versions: number[]): void {
  fc.assert(
    fc.property(fc.constantFrom(...versions), fc.uint8Array({ maxLength: 96 }), (version, bytes) => {
      try {
        decode(new Reader(Buffer.from(bytes)), version);
      } catch (e) {
        if (!(e instanceof ProtocolError)) throw e;
      }
    }),
    { numRuns: 300 },
  );
}

/** Builds a request body by hand (for versions kafkajs lacks). */
export function bytes(build: (w: Writer) => void): Buffer {
  const w = new Writer();
  build(w);
  return w.toBuffer();
}

export interface TestMessage {
  key: string | null;
  value: string | null;
  timestamp: number;
  headers?: Record<string, string>;
}

/** The fields of a decoded kafkajs message that say which bytes it came from. */
export interface SeenMessage {
  offset: string;
  key: string | null;
  value: string | null;
  timestamp?: string;
  headers?: Record<string, string>;
}

type RecordFactory = (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: string | null;
  value: string | null;
  headers?: Record<string, string>;
}) => KafkaJsEncoder;
type RecordBatchFactory = (b: {
  firstOffset: number;
  firstTimestamp: number;
  maxTimestamp: number;
  lastOffsetDelta: number;
  records: KafkaJsEncoder[];
}) => Promise<KafkaJsEncoder>;

/** A magic-2 record batch as kafkajs writes it. */
export async function recordBatch(firstOffset: number, messages: TestMessage[]): Promise<Buffer> {
  const Record = kafkajs<RecordFactory>('recordBatch/record/v0/index.js');
  const { RecordBatch } = kafkajs<{ RecordBatch: RecordBatchFactory }>('recordBatch/v0/index.js');
  const times = messages.map((m) => m.timestamp);
  const firstTimestamp = Math.min(...times);
  const records = messages.map((m, i) =>
    Record({ offsetDelta: i, timestampDelta: m.timestamp - firstTimestamp, ...m }),
  );
  const batch = await RecordBatch({
    firstOffset,
    firstTimestamp,
    maxTimestamp: Math.max(...times),
    lastOffsetDelta: messages.length - 1,
    records,
  });
  return batch.buffer;
}

/** A legacy (magic 0 or 1) message set with real offsets (kafkajs itself writes -1). */
export function messageSet(magic: 0 | 1, firstOffset: number, messages: TestMessage[]): Buffer {
  const MessageSet =
    kafkajs<(o: { messageVersion: number; entries: TestMessage[] }) => KafkaJsEncoder>('messageSet/index.js');
  const buf = Buffer.from(MessageSet({ messageVersion: magic, entries: messages }).buffer);
  for (let at = 0, i = 0; at < buf.length; i++) {
    buf.writeBigInt64BE(BigInt(firstOffset + i), at);
    at += 12 + buf.readInt32BE(at + 8);
  }
  return buf;
}

interface KafkaJsMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp?: string;
  headers?: Record<string, Buffer>;
}

export function seen(m: KafkaJsMessage): SeenMessage {
  const out: SeenMessage = {
    offset: m.offset,
    key: m.key?.toString() ?? null,
    value: m.value?.toString() ?? null,
  };
  if (m.timestamp !== undefined) out.timestamp = m.timestamp;
  if (m.headers !== undefined) {
    out.headers = Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, v.toString()]));
  }
  return out;
}

/** Parses record data (batches or a legacy message set) with kafkajs's Fetch decoder. */
export async function readRecords(records: Buffer): Promise<SeenMessage[]> {
  const decodeMessages = kafkajs<(d: KafkaJsDecoder) => Promise<KafkaJsMessage[]>>(
    'requests/fetch/v4/decodeMessages.js',
  );
  const sized = Buffer.concat([Buffer.alloc(4), records]);
  sized.writeInt32BE(records.length, 0);
  return (await decodeMessages(new Decoder(sized))).map(seen);
}

/** Arbitraries for values that survive the wire unchanged. */
export const arb = {
  int8: () => fc.integer({ min: -128, max: 127 }),
  int16: () => fc.integer({ min: -32768, max: 32767 }),
  int32: () => fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  int64: () => fc.maxSafeInteger(),
  // No lone surrogates: UTF-8 cannot carry them, so they would not round-trip through any client.
  string: () => fc.string({ unit: 'binary', maxLength: 24 }),
  bytes: () => fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
};
