import type { AvroSerializer } from '../../codec/avroCodec.js';
import type { RawRecord } from '../contracts.js';
import type { DeadLetterFailure } from './streamsApp.js';

/**
 * The value of a dead-letter record, field for field the catalogue's
 * `sluice.platform.DeadLetterRecorded`: where the record came from, its original bytes and
 * headers, and why it failed. The engine defines the shape; a catalogue supplies the schema.
 */
export interface DeadLetterValue {
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: number;
  sourceTimestamp: number | null;
  originalKey: Buffer | null;
  originalValue: Buffer | null;
  originalHeaders: { key: string; value: Buffer | null }[];
  errorClass: string;
  errorCode: string | null;
  message: string;
  stack: string | null;
  stage: 'DECODE' | 'VALIDATE' | 'PROCESS' | 'PRODUCE' | 'PROJECT' | 'UNKNOWN';
  consumerGroup: string | null;
  attempts: number;
  occurredAt: number;
}

const stages: Record<DeadLetterFailure['kind'], DeadLetterValue['stage']> = {
  deserialization: 'DECODE',
  processing: 'PROCESS',
  late: 'VALIDATE',
  invalid: 'VALIDATE',
};

export function toDeadLetterValue(
  f: DeadLetterFailure,
  consumerGroup: string | null,
  now: number,
): DeadLetterValue {
  const code = (f.error as { code?: unknown }).code;
  return {
    sourceTopic: f.position?.topic ?? '',
    sourcePartition: f.position?.partition ?? -1,
    sourceOffset: f.position ? Number(f.position.offset) : -1,
    sourceTimestamp: f.raw?.timestamp ?? null,
    originalKey: f.raw?.key ?? null,
    originalValue: f.raw?.value ?? null,
    originalHeaders: Object.entries(f.raw?.headers ?? {}).map(([key, value]) => ({ key, value })),
    errorClass: f.error.name,
    errorCode: typeof code === 'string' ? code : null,
    message: f.error.message,
    stack: f.error.stack ?? null,
    stage: stages[f.kind],
    consumerGroup,
    attempts: 1,
    occurredAt: now,
  };
}

/**
 * A `deadLetterEncoder` writing Avro with `serializer` (built on the catalogue's dead-letter
 * schema; its id must be resolved, `await serializer.schemaId()`, before the app starts).
 * The key is the source topic, as the catalogue keys dead letters.
 */
export function avroDeadLetterEncoder(
  serializer: AvroSerializer<DeadLetterValue>,
  consumerGroup: string,
  now: () => number = Date.now,
): (f: DeadLetterFailure) => RawRecord {
  return (f) => {
    const value = toDeadLetterValue(f, consumerGroup, now());
    return {
      key: Buffer.from(value.sourceTopic),
      value: serializer.encodeSync(value),
      timestamp: value.occurredAt,
      headers: {
        'sluice.event-type': Buffer.from('sluice.platform.DeadLetterRecorded'),
        'sluice.dlq-kind': Buffer.from(f.kind),
        'sluice.error-class': Buffer.from(value.errorClass),
      },
    };
  };
}

/**
 * The default dead letter: the original key and value, the failure in headers. Nothing is lost
 * and any client can read it.
 */
export function headerDeadLetter(f: DeadLetterFailure): RawRecord {
  const headers: Record<string, Buffer> = { ...(f.raw?.headers ?? {}) };
  headers['sluice.dlq-kind'] = Buffer.from(f.kind);
  headers['sluice.error-class'] = Buffer.from(f.error.name);
  headers['sluice.error-code'] = Buffer.from(String((f.error as { code?: string }).code ?? ''));
  headers['sluice.error-message'] = Buffer.from(f.error.message);
  if (f.position) {
    headers['sluice.source-topic'] = Buffer.from(f.position.topic);
    headers['sluice.source-partition'] = Buffer.from(String(f.position.partition));
    headers['sluice.source-offset'] = Buffer.from(f.position.offset);
  }
  return {
    key: f.raw?.key ?? null,
    value: f.raw?.value ?? null,
    timestamp: f.raw?.timestamp ?? Date.now(),
    headers,
  };
}
