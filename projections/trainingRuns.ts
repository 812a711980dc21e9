import type { SchemaRegistryLike } from '../engine/codec/index.js';
import {
  type Emit,
  insertIgnore,
  type ProjectionDefinition,
  source,
  upsert,
} from '../engine/projection/index.js';
import { EventTypeDecoder, type TypedEvent } from './decoders.js';
import { at, atOrNull, buildVersion, type ReadModelOptions } from './readModel.js';

type Target =
  | 'training_run_requests'
  | 'training_run_starts'
  | 'training_run_epochs'
  | 'training_run_outcomes';

const lifecycle = [
  'sluice.training.TrainingRequested',
  'sluice.training.TrainingStarted',
  'sluice.training.TrainingProgressed',
  'sluice.training.TrainingCompleted',
  'sluice.training.TrainingFailed',
] as const;

type LifecycleEvent = TypedEvent<(typeof lifecycle)[number]>;

/**
 * Training runs (migrations/0107_training_runs.sql): a table per lifecycle event kind keyed by
 * run id, which the view training_runs folds into one row per run with its status. Keeping
 * kinds apart means no event's columns are overwritten by another's (an upsert would null them).
 */
export function trainingRunsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'training_runs',
    version,
    targets: {
      training_run_requests: {
        table: 'training_run_requests',
        columns: {
          run_id: 'uuid',
          model_name: 'text',
          trigger: 'text',
          requested_by: 'text',
          reason: 'text',
          base_version: 'int4',
          labels_until: 'timestamptz',
          holdout_fraction: 'float8',
          seed: 'int8',
          hyperparameters: 'jsonb',
          requested_at: 'timestamptz',
        },
        key: ['run_id'],
        conflict: insertIgnore(),
      },
      training_run_starts: {
        table: 'training_run_starts',
        columns: {
          run_id: 'uuid',
          model_name: 'text',
          worker: 'text',
          training_examples: 'int8',
          holdout_examples: 'int8',
          epochs: 'int4',
          backend: 'text',
          started_at: 'timestamptz',
        },
        key: ['run_id'],
        // A run restarted on another worker: the latest start is the one that counts.
        conflict: upsert(
          'model_name',
          'worker',
          'training_examples',
          'holdout_examples',
          'epochs',
          'backend',
          'started_at',
        ),
      },
      training_run_epochs: {
        table: 'training_run_epochs',
        columns: {
          run_id: 'uuid',
          epoch: 'int4',
          epochs: 'int4',
          metrics: 'jsonb',
          occurred_at: 'timestamptz',
        },
        key: ['run_id', 'epoch'],
        conflict: upsert('epochs', 'metrics', 'occurred_at'),
      },
      training_run_outcomes: {
        table: 'training_run_outcomes',
        columns: {
          run_id: 'uuid',
          model_name: 'text',
          outcome: 'text',
          artifact_uri: 'text',
          artifact_sha256: 'text',
          artifact_size_bytes: 'int8',
          class_labels: 'jsonb',
          metrics: 'jsonb',
          epochs: 'int4',
          duration_ms: 'int8',
          error_class: 'text',
          error_code: 'text',
          error_message: 'text',
          failed_epoch: 'int4',
          retriable: 'bool',
          finished_at: 'timestamptz',
        },
        key: ['run_id'],
        conflict: upsert(
          'model_name',
          'outcome',
          'artifact_uri',
          'artifact_sha256',
          'artifact_size_bytes',
          'class_labels',
          'metrics',
          'epochs',
          'duration_ms',
          'error_class',
          'error_code',
          'error_message',
          'failed_epoch',
          'retriable',
          'finished_at',
        ),
      },
    },
    sources: [source('training.run.lifecycle', new EventTypeDecoder(registry, lifecycle), projectLifecycle)],
    setup: buildVersion('training_runs', version, [
      'training_run_requests',
      'training_run_starts',
      'training_run_epochs',
      'training_run_outcomes',
    ]),
  };
}

function projectLifecycle({ type, event: e }: LifecycleEvent, emit: Emit<Target>): void {
  switch (type) {
    case 'sluice.training.TrainingRequested':
      emit('training_run_requests', {
        run_id: e.runId,
        model_name: e.modelName,
        trigger: e.trigger,
        requested_by: e.requestedBy,
        reason: e.reason,
        base_version: e.baseVersion,
        labels_until: atOrNull(e.labelsUntil),
        holdout_fraction: e.holdoutFraction,
        seed: e.seed,
        hyperparameters: e.hyperparameters,
        requested_at: at(e.occurredAt),
      });
      return;
    case 'sluice.training.TrainingStarted':
      emit('training_run_starts', {
        run_id: e.runId,
        model_name: e.modelName,
        worker: e.worker,
        training_examples: e.trainingExamples,
        holdout_examples: e.holdoutExamples,
        epochs: e.epochs,
        backend: e.backend,
        started_at: at(e.occurredAt),
      });
      return;
    case 'sluice.training.TrainingProgressed':
      emit('training_run_epochs', {
        run_id: e.runId,
        epoch: e.epoch,
        epochs: e.epochs,
        metrics: e.metrics,
        occurred_at: at(e.occurredAt),
      });
      return;
    case 'sluice.training.TrainingCompleted':
      emit('training_run_outcomes', {
        run_id: e.runId,
        model_name: e.modelName,
        outcome: 'COMPLETED',
        artifact_uri: e.artifactUri,
        artifact_sha256: e.artifactSha256,
        artifact_size_bytes: e.artifactSizeBytes,
        class_labels: e.classLabels,
        metrics: e.metrics,
        epochs: e.epochs,
        duration_ms: e.durationMs,
        finished_at: at(e.occurredAt),
      });
      return;
    case 'sluice.training.TrainingFailed':
      emit('training_run_outcomes', {
        run_id: e.runId,
        model_name: e.modelName,
        outcome: 'FAILED',
        error_class: e.errorClass,
        error_code: e.errorCode,
        error_message: e.message,
        failed_epoch: e.epoch,
        retriable: e.retriable,
        finished_at: at(e.occurredAt),
      });
      return;
  }
}
