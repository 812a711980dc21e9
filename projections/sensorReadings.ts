import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { SensorReadingRecorded } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, atOrNull, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'sensor_readings';

/**
 * Sensor readings, one row per SensorReadingRecorded (migrations/0110_sensor_readings.sql); the
 * 1-minute rollup sensor_readings_1m is computed by the database from this table.
 */
export function sensorReadingsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'sensor_readings',
    version,
    targets: {
      sensor_readings: {
        table: 'sensor_readings',
        columns: {
          device_id: 'text',
          metric: 'text',
          value: 'float8',
          unit: 'text',
          quality: 'text',
          source: 'text',
          sequence: 'int8',
          received_at: 'timestamptz',
          tags: 'jsonb',
          occurred_at: 'timestamptz',
        },
        // A device takes one value of a metric per millisecond: the same key again is a redelivery.
        key: ['device_id', 'metric', 'occurred_at'],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source(
        'sensors.reading.recorded',
        eventDecoder(registry, 'sluice.sensors.SensorReadingRecorded'),
        projectReading,
      ),
    ],
    setup: buildVersion('sensor_readings', version, ['sensor_readings']),
  };
}

function projectReading(e: SensorReadingRecorded, emit: Emit<Target>): void {
  emit('sensor_readings', {
    device_id: e.deviceId,
    metric: e.metric,
    value: e.value,
    unit: e.unit,
    quality: e.quality,
    source: e.source,
    sequence: e.sequence,
    received_at: atOrNull(e.receivedAt),
    tags: e.tags,
    occurred_at: at(e.occurredAt),
  });
}
