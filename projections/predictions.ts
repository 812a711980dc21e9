import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { PredictionMade } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'predictions';

/**
 * Predictions of every model version, one row per PredictionMade (migrations/0104_predictions.sql);
 * the per-minute rollup predictions_1m is computed by the database from this table.
 */
export function predictionsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'predictions',
    version,
    targets: {
      predictions: {
        table: 'predictions',
        columns: {
          prediction_id: 'uuid',
          subject_id: 'text',
          model_name: 'text',
          model_version: 'int4',
          feature_set: 'text',
          top_label: 'text',
          confidence: 'float8',
          probabilities: 'jsonb',
          latency_ms: 'float8',
          batch_size: 'int4',
          served_by: 'text',
          occurred_at: 'timestamptz',
        },
        key: ['prediction_id', 'occurred_at'],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source(
        'inference.prediction.made',
        eventDecoder(registry, 'sluice.inference.PredictionMade'),
        projectPrediction,
      ),
    ],
    setup: buildVersion('predictions', version, ['predictions']),
  };
}

function projectPrediction(e: PredictionMade, emit: Emit<Target>): void {
  emit('predictions', {
    prediction_id: e.predictionId,
    subject_id: e.subjectId,
    model_name: e.modelName,
    model_version: e.modelVersion,
    feature_set: e.featureSet,
    top_label: e.topLabel,
    confidence: e.confidence,
    probabilities: e.probabilities.map((p) => ({ label: p.label, probability: p.probability })),
    latency_ms: e.latencyMs,
    batch_size: e.batchSize,
    served_by: e.servedBy,
    occurred_at: at(e.occurredAt),
  });
}
