import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { DeadLetterRecorded } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, atOrNull, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'dead_letters';

/** The catalogue's dead-letter topic. */
export const DEAD_LETTER_TOPIC = 'platform.deadletter.recorded';

export interface DeadLetterOptions extends ReadModelOptions {
  /**
   * The topics to read dead letters from (default: the catalogue's platform.deadletter.recorded).
   * The engine's topology and projection runners write theirs to `<source topic>.dlq`, in the
   * same encoding: list those here to see them too. Each must exist when the projection starts.
   */
  topics?: readonly string[];
}

/** Records set aside with their error, one row per dead letter (migrations/0112_dead_letters.sql). */
export function deadLettersProjection(
  registry: SchemaRegistryLike,
  opts: DeadLetterOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  const topics = opts.topics ?? [DEAD_LETTER_TOPIC];
  return {
    name: 'dead_letters',
    version,
    targets: {
      dead_letters: {
        table: 'dead_letters',
        columns: {
          source_topic: 'text',
          source_partition: 'int4',
          source_offset: 'int8',
          source_timestamp: 'timestamptz',
          consumer_group: 'text',
          stage: 'text',
          error_class: 'text',
          error_code: 'text',
          message: 'text',
          stack: 'text',
          attempts: 'int4',
          original_key: 'bytea',
          original_value: 'bytea',
          original_headers: 'jsonb',
          occurred_at: 'timestamptz',
        },
        // A record dead-lettered again (after a replay) is a new fact: appended.
        key: [],
        conflict: insertIgnore(),
      },
    },
    sources: topics.map((topic) =>
      source(topic, eventDecoder(registry, 'sluice.platform.DeadLetterRecorded'), projectDeadLetter),
    ),
    setup: buildVersion('dead_letters', version, ['dead_letters']),
  };
}

/** Text columns cannot hold NUL, and header values are meant to be UTF-8 text. */
const text = (s: string): string => s.replaceAll('\u0000', '\\0');

function projectDeadLetter(e: DeadLetterRecorded, emit: Emit<Target>): void {
  emit('dead_letters', {
    source_topic: e.sourceTopic,
    source_partition: e.sourcePartition,
    source_offset: e.sourceOffset,
    source_timestamp: atOrNull(e.sourceTimestamp),
    consumer_group: e.consumerGroup,
    stage: e.stage,
    error_class: e.errorClass,
    error_code: e.errorCode,
    message: text(e.message),
    stack: e.stack === null ? null : text(e.stack),
    attempts: e.attempts,
    original_key: e.originalKey,
    original_value: e.originalValue,
    // Bytes as UTF-8 text (what Sluice's headers are), lossy for binary values: original_value and the topic keep the rest.
    original_headers: e.originalHeaders.map((h) => ({
      key: text(h.key),
      value: h.value === null ? null : text(h.value.toString('utf8')),
    })),
    occurred_at: at(e.occurredAt),
  });
}
