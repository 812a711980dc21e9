import type { IHeaders, Message } from 'kafkajs';
import type { AvroSerializer } from '../codec/index.js';
import { type DeadLetterValue, toDeadLetterValue } from '../topology/index.js';
import type { ErrorRow } from './checkpoints.js';
import type { PreparedEvent } from './prepare.js';

function bufferHeaders(h: IHeaders | undefined): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one : Buffer.from(String(one));
  }
  return out;
}

/**
 * A poison event as a record of `<topic>.dlq`, in the catalogue's DeadLetterRecorded encoding
 * (the topology runtime's `toDeadLetterValue`, with the projection's stage): the original key,
 * value and headers, where it came from and why it failed.
 */
export function deadLetterMessage(
  serializer: AvroSerializer<DeadLetterValue>,
  event: PreparedEvent,
  consumerGroup: string,
  now: number,
): { topic: string; message: Message } {
  const poison = event.poison!;
  const value: DeadLetterValue = {
    ...toDeadLetterValue(
      {
        kind: poison.stage === 'DECODE' ? 'deserialization' : 'processing',
        position: { topic: event.topic, partition: event.partition, offset: String(event.offset) },
        raw: {
          key: event.message.key ?? null,
          value: event.message.value ?? null,
          timestamp: Number(event.message.timestamp),
          headers: bufferHeaders(event.message.headers),
        },
        error: poison.error,
      },
      consumerGroup,
      now,
    ),
    stage: poison.stage,
  };
  return {
    topic: `${event.topic}.dlq`,
    message: {
      // Keyed by source topic, as the catalogue keys dead letters.
      key: Buffer.from(value.sourceTopic),
      value: serializer.encodeSync(value),
      timestamp: String(now),
      headers: {
        'sluice.event-type': 'sluice.platform.DeadLetterRecorded',
        'sluice.dlq-kind': poison.stage === 'DECODE' ? 'deserialization' : 'processing',
        'sluice.error-class': value.errorClass,
      },
    },
  };
}

export function errorRow(event: PreparedEvent): ErrorRow {
  const err = event.poison!.error;
  const code = (err as { code?: unknown }).code;
  return {
    topic: event.topic,
    partition: event.partition,
    offset: event.offset,
    errorClass: err.name,
    errorCode: typeof code === 'string' ? code : null,
    message: err.message,
    payload: event.message.value ?? null,
  };
}
