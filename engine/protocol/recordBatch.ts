import { gunzipSync, gzipSync } from 'node:zlib';
import { crc32c } from '@node-rs/crc32';
import { ProtocolError } from './protocolError.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * Record batch v2 (magic 2). The broker stores batches exactly as received and only
 * rewrites baseOffset, which lies outside the CRC. Records are decoded only where Kafka
 * does so too: compaction and timestamp look-ups.
 */
export const BATCH_HEADER_SIZE = 61;
/** baseOffset + batchLength: the part of the header not counted in batchLength. */
export const LOG_OVERHEAD = 12;
const MAGIC_OFFSET = 16;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;

export const Compression = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 } as const;
export const COMPRESSION_MASK = 0x07;
export const TIMESTAMP_TYPE_BIT = 0x08;
export const TRANSACTIONAL_BIT = 0x10;
export const CONTROL_BIT = 0x20;

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

/** Reads the fixed header of the batch starting at `pos`; the caller checks there are 61 bytes. */
export function readBatchHeader(buf: Buffer, pos = 0): BatchHeader {
  return {
    baseOffset: Number(buf.readBigInt64BE(pos)),
    batchLength: buf.readInt32BE(pos + 8),
    partitionLeaderEpoch: buf.readInt32BE(pos + 12),
    magic: buf.readInt8(pos + MAGIC_OFFSET),
    crc: buf.readUInt32BE(pos + CRC_OFFSET),
    attributes: buf.readInt16BE(pos + ATTRIBUTES_OFFSET),
    lastOffsetDelta: buf.readInt32BE(pos + 23),
    baseTimestamp: Number(buf.readBigInt64BE(pos + 27)),
    maxTimestamp: Number(buf.readBigInt64BE(pos + 35)),
    producerId: Number(buf.readBigInt64BE(pos + 43)),
    producerEpoch: buf.readInt16BE(pos + 51),
    baseSequence: buf.readInt32BE(pos + 53),
    recordCount: buf.readInt32BE(pos + 57),
  };
}

export function writeBaseOffset(batch: Buffer, baseOffset: number): void {
  batch.writeBigInt64BE(BigInt(baseOffset), 0);
}

export function computeCrc(batch: Buffer): number {
  return crc32c(batch.subarray(ATTRIBUTES_OFFSET));
}

export function crcMatches(batch: Buffer): boolean {
  return batch.readUInt32BE(CRC_OFFSET) === computeCrc(batch);
}

export class InvalidBatchError extends ProtocolError {
  constructor(
    message: string,
    readonly kind: 'corrupt' | 'invalid' | 'magic' | 'compression',
  ) {
    super(message);
  }
}

/**
 * Splits a Produce payload into batches and validates each as Kafka's LogValidator does
 * for magic 2: exact framing, CRC, record count, codec. Returns views, not copies.
 */
export function splitProducedBatches(records: Buffer, allowZstd: boolean): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < records.length) {
    if (records.length - pos < BATCH_HEADER_SIZE) {
      if (records.length - pos > MAGIC_OFFSET && records[pos + MAGIC_OFFSET] !== 2) {
        throw new InvalidBatchError('only record batch magic 2 is accepted', 'magic');
      }
      throw new InvalidBatchError(`truncated record batch: ${records.length - pos} bytes`, 'corrupt');
    }
    const magic = records[pos + MAGIC_OFFSET];
    if (magic !== 2) throw new InvalidBatchError(`record batch magic ${magic}; only 2 is accepted`, 'magic');
    const length = records.readInt32BE(pos + 8);
    const size = LOG_OVERHEAD + length;
    if (length < BATCH_HEADER_SIZE - LOG_OVERHEAD || pos + size > records.length) {
      throw new InvalidBatchError(`record batch length ${length} does not fit the payload`, 'corrupt');
    }
    const batch = records.subarray(pos, pos + size);
    if (!crcMatches(batch)) throw new InvalidBatchError('record batch CRC32C mismatch', 'corrupt');
    const h = readBatchHeader(batch);
    if (
      h.recordCount < 0 ||
      h.lastOffsetDelta < 0 ||
      (h.recordCount > 0 && h.lastOffsetDelta < h.recordCount - 1)
    ) {
      throw new InvalidBatchError(
        `record count ${h.recordCount} and last offset delta ${h.lastOffsetDelta} disagree`,
        'invalid',
      );
    }
    const codec = h.attributes & COMPRESSION_MASK;
    if (codec > Compression.zstd)
      throw new InvalidBatchError(`unknown compression codec ${codec}`, 'compression');
    if (codec === Compression.zstd && !allowZstd) {
      throw new InvalidBatchError('zstd needs Produce v7 or later', 'compression');
    }
    out.push(batch);
    pos += size;
  }
  return out;
}

export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

export interface BatchRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}

/** Records of one batch. Only uncompressed and gzip batches can be opened here. */
export function decodeRecords(batch: Buffer): BatchRecord[] {
  const h = readBatchHeader(batch);
  const codec = h.attributes & COMPRESSION_MASK;
  let body = batch.subarray(BATCH_HEADER_SIZE);
  if (codec === Compression.gzip) body = gunzipSync(body);
  else if (codec !== Compression.none) {
    throw new InvalidBatchError(`cannot open records compressed with codec ${codec}`, 'compression');
  }
  const r = new Reader(body);
  const out: BatchRecord[] = [];
  for (let i = 0; i < h.recordCount; i++) {
    const length = r.varint();
    const end = r.offset + length;
    r.int8(); // record attributes, unused in magic 2
    const timestampDelta = r.varlong();
    const offsetDelta = r.varint();
    const key = varBytes(r);
    const value = varBytes(r);
    const headerCount = r.varint();
    const headers: RecordHeader[] = [];
    for (let j = 0; j < headerCount; j++) {
      const k = varBytes(r);
      headers.push({ key: k ? k.toString('utf8') : '', value: varBytes(r) });
    }
    if (r.offset !== end) throw new ProtocolError(`record ${i} length ${length} disagrees with its fields`);
    out.push({
      offset: h.baseOffset + offsetDelta,
      timestamp: h.baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
  }
  return out;
}

function varBytes(r: Reader): Buffer | null {
  const len = r.varint();
  return len < 0 ? null : r.raw(len);
}

export interface EncodeBatchOptions {
  baseOffset: number;
  /** Offsets are kept as given (a compacted batch keeps its gaps). */
  records: BatchRecord[];
  lastOffsetDelta?: number;
  baseTimestamp?: number;
  maxTimestamp?: number;
  attributes?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  partitionLeaderEpoch?: number;
}

/** Builds a batch for the broker's own writes (internal topics) and for the cleaner. */
export function encodeBatch(o: EncodeBatchOptions): Buffer {
  const records = o.records;
  const baseTimestamp = o.baseTimestamp ?? (records.length > 0 ? records[0].timestamp : -1);
  let maxTimestamp = o.maxTimestamp ?? -1;
  if (o.maxTimestamp === undefined)
    for (const rec of records) maxTimestamp = Math.max(maxTimestamp, rec.timestamp);
  const lastOffsetDelta =
    o.lastOffsetDelta ?? (records.length > 0 ? records[records.length - 1].offset - o.baseOffset : 0);
  const body = new Writer(records.length * 64 + 64);
  for (const rec of records) {
    const rw = new Writer(64);
    rw.int8(0);
    rw.varlong(rec.timestamp - baseTimestamp);
    rw.varint(rec.offset - o.baseOffset);
    writeVarBytes(rw, rec.key);
    writeVarBytes(rw, rec.value);
    rw.varint(rec.headers.length);
    for (const hd of rec.headers) {
      writeVarBytes(rw, Buffer.from(hd.key, 'utf8'));
      writeVarBytes(rw, hd.value);
    }
    const bytes = rw.toBuffer();
    body.varint(bytes.length);
    body.raw(bytes);
  }
  let attributes = o.attributes ?? 0;
  let payload = body.toBuffer();
  if ((attributes & COMPRESSION_MASK) === Compression.gzip) payload = gzipSync(payload);
  else attributes &= ~COMPRESSION_MASK;
  const w = new Writer(BATCH_HEADER_SIZE + payload.length);
  w.int64(o.baseOffset);
  w.int32(BATCH_HEADER_SIZE - LOG_OVERHEAD + payload.length);
  w.int32(o.partitionLeaderEpoch ?? 0);
  w.int8(2);
  w.uint32(0);
  w.int16(attributes);
  w.int32(lastOffsetDelta);
  w.int64(baseTimestamp);
  w.int64(maxTimestamp);
  w.int64(o.producerId ?? -1);
  w.int16(o.producerEpoch ?? -1);
  w.int32(o.baseSequence ?? -1);
  w.int32(records.length);
  w.raw(payload);
  const batch = Buffer.from(w.toBuffer());
  batch.writeUInt32BE(computeCrc(batch), CRC_OFFSET);
  return batch;
}

function writeVarBytes(w: Writer, b: Buffer | null): void {
  if (b === null) {
    w.varint(-1);
    return;
  }
  w.varint(b.length);
  w.raw(b);
}
