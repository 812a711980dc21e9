import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, type ProjectionDefinition, source, upsert } from '../engine/projection/index.js';
import type { DriftDetected, DriftMeasured } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'drift_measurements' | 'drift_alerts';

/**
 * Drift per model, column and window, and drift alerts (migrations/0109_drift.sql). A window
 * measured again (a replayed topology) replaces its row rather than adding one.
 */
export function driftProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'drift',
    version,
    targets: {
      drift_measurements: {
        table: 'drift_measurements',
        columns: {
          model_name: 'text',
          model_version: 'int4',
          column_name: 'text',
          column_kind: 'text',
          test: 'text',
          statistic: 'float8',
          p_value: 'float8',
          threshold: 'float8',
          threshold_on: 'text',
          drifted: 'bool',
          window_start: 'timestamptz',
          window_end: 'timestamptz',
          sample_size: 'int8',
          reference_size: 'int8',
          occurred_at: 'timestamptz',
        },
        key: ['model_name', 'model_version', 'column_name', 'test', 'window_start', 'window_end'],
        conflict: upsert(
          'column_kind',
          'statistic',
          'p_value',
          'threshold',
          'threshold_on',
          'drifted',
          'sample_size',
          'reference_size',
          'occurred_at',
        ),
      },
      drift_alerts: {
        table: 'drift_alerts',
        columns: {
          model_name: 'text',
          model_version: 'int4',
          window_start: 'timestamptz',
          window_end: 'timestamptz',
          drifted_columns: 'jsonb',
          measured_columns: 'int4',
          severity: 'text',
          occurred_at: 'timestamptz',
        },
        key: ['model_name', 'model_version', 'window_start', 'window_end'],
        conflict: upsert('drifted_columns', 'measured_columns', 'severity', 'occurred_at'),
      },
    },
    sources: [
      source(
        'drift.column.measured',
        eventDecoder(registry, 'sluice.drift.DriftMeasured'),
        projectMeasurement,
      ),
      source('drift.model.detected', eventDecoder(registry, 'sluice.drift.DriftDetected'), projectAlert),
    ],
    setup: buildVersion('drift', version, ['drift_measurements', 'drift_alerts']),
  };
}

function projectMeasurement(e: DriftMeasured, emit: Emit<Target>): void {
  emit('drift_measurements', {
    model_name: e.modelName,
    model_version: e.modelVersion,
    column_name: e.column,
    column_kind: e.columnKind,
    test: e.test,
    statistic: e.statistic,
    p_value: e.pValue,
    threshold: e.threshold,
    threshold_on: e.thresholdOn,
    drifted: e.drifted,
    window_start: at(e.windowStart),
    window_end: at(e.windowEnd),
    sample_size: e.sampleSize,
    reference_size: e.referenceSize,
    occurred_at: at(e.occurredAt),
  });
}

function projectAlert(e: DriftDetected, emit: Emit<Target>): void {
  emit('drift_alerts', {
    model_name: e.modelName,
    model_version: e.modelVersion,
    window_start: at(e.windowStart),
    window_end: at(e.windowEnd),
    drifted_columns: e.driftedColumns,
    measured_columns: e.measuredColumns,
    severity: e.severity,
    occurred_at: at(e.occurredAt),
  });
}
