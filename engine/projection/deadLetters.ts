import type { Message } from 'kafkajs';
import { loadCatalogue } from '../catalogue/index.js';
import { AvroSerializer, type SchemaRegistryLike } from '../codec/index.js';
import { config } from '../config.js';
import { toBufferHeaders } from '../kafka/headers.js';
import { type DeadLetterValue, toDeadLetterValue } from '../topology/index.js';
import type { ErrorRow } from './checkpoints.js';
import type { PreparedEvent } from './prepare.js';

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
          headers: toBufferHeaders(event.message.headers),
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

/**
 * The encoder of dead letters every runner needs: the catalogue's DeadLetterRecorded schema
 * under its subject (catalogue from SLUICE_CATALOGUE_DIR unless `catalogueDir` is given).
 */
export function deadLetterSerializer(
  registry: SchemaRegistryLike,
  catalogueDir: string = config().SLUICE_CATALOGUE_DIR,
): AvroSerializer<DeadLetterValue> {
  const entry = loadCatalogue(catalogueDir).schemas.get('sluice.platform.DeadLetterRecorded');
  if (!entry) throw new Error(`the catalogue in ${catalogueDir} has no sluice.platform.DeadLetterRecorded`);
  return new AvroSerializer<DeadLetterValue>(registry, 'platform.deadletter.recorded-value', entry.json);
}
