import type { SchemaRegistryLike } from '../engine/codec/index.js';
import {
  type Emit,
  insertIgnore,
  type ProjectionDefinition,
  source,
  upsert,
} from '../engine/projection/index.js';
import type { ModelVersionRegistered } from '../schemas/generated/events.js';
import { EventTypeDecoder, eventDecoder, type TypedEvent } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'model_versions' | 'model_aliases';

const championChanges = ['sluice.models.ModelPromoted', 'sluice.models.ModelRolledBack'] as const;

/** The alias champion changes move; a later alias (e.g. challenger) is another row per model. */
export const CHAMPION = 'champion';

/**
 * The model registry (migrations/0108_models.sql): every registered version, and per model the
 * version its champion alias points at. models.champion.changed is compacted by model, so the
 * alias keeps only what compaction keeps: the latest change, whether promotion or rollback.
 */
export function modelsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'models',
    version,
    targets: {
      model_versions: {
        table: 'model_versions',
        columns: {
          model_name: 'text',
          version: 'int4',
          run_id: 'uuid',
          artifact_uri: 'text',
          artifact_sha256: 'text',
          artifact_size_bytes: 'int8',
          artifact_format: 'text',
          class_labels: 'jsonb',
          feature_set: 'text',
          input_shape: 'jsonb',
          metrics: 'jsonb',
          drift_reference_uri: 'text',
          registered_by: 'text',
          registered_at: 'timestamptz',
        },
        // Versions are immutable once registered.
        key: ['model_name', 'version'],
        conflict: insertIgnore(),
      },
      model_aliases: {
        table: 'model_aliases',
        columns: {
          model_name: 'text',
          alias: 'text',
          version: 'int4',
          previous_version: 'int4',
          change: 'text',
          reason: 'text',
          changed_by: 'text',
          metrics: 'jsonb',
          changed_at: 'timestamptz',
        },
        key: ['model_name', 'alias'],
        conflict: upsert(
          'version',
          'previous_version',
          'change',
          'reason',
          'changed_by',
          'metrics',
          'changed_at',
        ),
      },
    },
    sources: [
      source(
        'models.version.registered',
        eventDecoder(registry, 'sluice.models.ModelVersionRegistered'),
        projectVersion,
      ),
      source('models.champion.changed', new EventTypeDecoder(registry, championChanges), projectChampion),
    ],
    setup: buildVersion('models', version, ['model_versions', 'model_aliases']),
  };
}

function projectVersion(e: ModelVersionRegistered, emit: Emit<Target>): void {
  emit('model_versions', {
    model_name: e.modelName,
    version: e.version,
    run_id: e.runId,
    artifact_uri: e.artifactUri,
    artifact_sha256: e.artifactSha256,
    artifact_size_bytes: e.artifactSizeBytes,
    artifact_format: e.artifactFormat,
    class_labels: e.classLabels,
    feature_set: e.featureSet,
    input_shape: e.inputShape,
    metrics: e.metrics,
    drift_reference_uri: e.driftReferenceUri,
    registered_by: e.registeredBy,
    registered_at: at(e.occurredAt),
  });
}

function projectChampion(change: TypedEvent<(typeof championChanges)[number]>, emit: Emit<Target>): void {
  if (change.type === 'sluice.models.ModelPromoted') {
    const e = change.event;
    emit('model_aliases', {
      model_name: e.modelName,
      alias: CHAMPION,
      version: e.version,
      previous_version: e.previousVersion,
      change: 'PROMOTED',
      reason: e.reason,
      changed_by: e.promotedBy,
      metrics: e.challengerMetrics,
      changed_at: at(e.occurredAt),
    });
    return;
  }
  const e = change.event;
  emit('model_aliases', {
    model_name: e.modelName,
    alias: CHAMPION,
    version: e.version,
    previous_version: e.fromVersion,
    change: 'ROLLED_BACK',
    reason: e.reason,
    changed_by: e.rolledBackBy,
    metrics: {},
    changed_at: at(e.occurredAt),
  });
}
