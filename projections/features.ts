import type { SchemaRegistryLike } from '../engine/codec/index.js';
import {
  accumulate,
  type Emit,
  insertIgnore,
  type ProjectionDefinition,
  source,
} from '../engine/projection/index.js';
import type { FeaturesComputed } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'feature_vectors' | 'feature_sets';

/**
 * What features were computed, never the tensors (migrations/0103_features.sql): a row per
 * FeaturesComputed, and a summary per feature set, version and input kind. The topic keeps 7
 * days, so a rebuild counts only what it still holds.
 */
export function featuresProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'features',
    version,
    targets: {
      feature_vectors: {
        table: 'feature_vectors',
        columns: {
          subject_id: 'text',
          source_kind: 'text',
          source_id: 'text',
          feature_set: 'text',
          feature_set_version: 'int4',
          shape: 'jsonb',
          element_count: 'int8',
          storage: 'text',
          blob_uri: 'text',
          size_bytes: 'int8',
          occurred_at: 'timestamptz',
        },
        key: [],
        conflict: insertIgnore(),
      },
      feature_sets: {
        table: 'feature_sets',
        columns: {
          feature_set: 'text',
          feature_set_version: 'int4',
          source_kind: 'text',
          vectors: 'int8',
          first_at: 'timestamptz',
          last_at: 'timestamptz',
          shape: 'jsonb',
          columns: 'jsonb',
          preprocessing: 'jsonb',
        },
        key: ['feature_set', 'feature_set_version', 'source_kind'],
        // The recipe fields are those of the latest vector: a feature set version fixes them anyway.
        conflict: accumulate({
          vectors: 'sum',
          first_at: 'min',
          last_at: 'max',
          shape: 'replace',
          columns: 'replace',
          preprocessing: 'replace',
        }),
      },
    },
    sources: [
      source(
        'features.vector.computed',
        eventDecoder(registry, 'sluice.features.FeaturesComputed'),
        projectFeatures,
      ),
    ],
    setup: buildVersion('features', version, ['feature_vectors', 'feature_sets']),
  };
}

function projectFeatures(e: FeaturesComputed, emit: Emit<Target>): void {
  const occurredAt = at(e.occurredAt);
  emit('feature_vectors', {
    subject_id: e.subjectId,
    source_kind: e.sourceKind,
    source_id: e.sourceId,
    feature_set: e.featureSet,
    feature_set_version: e.featureSetVersion,
    shape: e.shape,
    element_count: e.shape.reduce((n, d) => n * d, 1),
    storage: e.vector ? 'BLOB' : 'INLINE',
    blob_uri: e.vector?.uri ?? null,
    // Inline values are doubles on the wire.
    size_bytes: e.vector ? e.vector.sizeBytes : (e.values?.length ?? 0) * 8,
    occurred_at: occurredAt,
  });
  emit('feature_sets', {
    feature_set: e.featureSet,
    feature_set_version: e.featureSetVersion,
    source_kind: e.sourceKind,
    vectors: 1,
    first_at: occurredAt,
    last_at: occurredAt,
    shape: e.shape,
    columns: e.columns,
    preprocessing: e.preprocessing,
  });
}
