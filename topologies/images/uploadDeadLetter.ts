import { createHash } from 'node:crypto';
import type { Message } from 'kafkajs';
import type { AvroSerializer } from '../../engine/codec/index.js';
import { type DeadLetterValue, toDeadLetterValue } from '../../engine/topology/index.js';
import type { UploadChannel } from '../../schemas/generated/events.js';
import type { UploadRejectedError } from './uploadErrors.js';

export interface RejectedUpload {
  /** The file's bytes, or a prefix of them when `sizeBytes` says it is larger. */
  bytes: Uint8Array;
  sizeBytes?: number;
  filename?: string;
  contentType?: string;
  channel: UploadChannel;
  fields: { label?: string; source?: string; subjectId?: string; uploader?: string };
  error: UploadRejectedError;
}

/**
 * A refused upload as a record of `<topic>.dlq`, in the catalogue's DeadLetterRecorded encoding
 * the topology and projection runners use (stage VALIDATE): the topic the upload was meant for,
 * no partition or offset (it never reached Kafka), the original bytes as the value (a prefix of
 * at most `maxBytes` when larger: the message and the `sluice.ingest.truncated` header say so),
 * and what the uploader sent with it as headers.
 */
export function rejectedUploadDeadLetter(
  serializer: AvroSerializer<DeadLetterValue>,
  topic: string,
  r: RejectedUpload,
  maxBytes: number,
  now: number,
): { topic: string; message: Message } {
  const all = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  const size = Math.max(r.sizeBytes ?? all.length, all.length);
  const kept = all.subarray(0, maxBytes);
  const truncated = kept.length < size;
  const headers: Record<string, Buffer> = {
    'sluice.ingest.channel': Buffer.from(r.channel),
    'sluice.ingest.size-bytes': Buffer.from(String(size)),
    'sluice.ingest.truncated': Buffer.from(String(truncated)),
  };
  // The address of the whole file, when the whole file is at hand.
  if (all.length === size) {
    headers['sluice.ingest.sha256'] = Buffer.from(createHash('sha256').update(all).digest('hex'));
  }
  const optional: Record<string, string | undefined> = {
    'sluice.ingest.filename': r.filename,
    'sluice.ingest.declared-content-type': r.contentType,
    'sluice.ingest.label': r.fields.label,
    'sluice.ingest.source': r.fields.source,
    'sluice.ingest.subject-id': r.fields.subjectId,
    'sluice.ingest.uploader': r.fields.uploader,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) headers[k] = Buffer.from(v);
  const value: DeadLetterValue = {
    ...toDeadLetterValue(
      {
        kind: 'invalid',
        position: { topic, partition: -1, offset: '-1' },
        raw: { key: null, value: kept, timestamp: now, headers },
        error: r.error,
      },
      null,
      now,
    ),
    message: truncated
      ? `${r.error.message} (original ${size} bytes; only the first ${kept.length} are kept here)`
      : r.error.message,
    // Refusals are expected outcomes, not bugs: their stack says nothing.
    stack: null,
  };
  return {
    topic: `${topic}.dlq`,
    message: {
      key: Buffer.from(topic),
      value: serializer.encodeSync(value),
      timestamp: String(now),
      headers: {
        'sluice.event-type': 'sluice.platform.DeadLetterRecorded',
        'sluice.dlq-kind': 'invalid',
        'sluice.error-class': value.errorClass,
        'sluice.error-code': r.error.code,
      },
    },
  };
}
