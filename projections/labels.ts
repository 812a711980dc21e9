import type { SchemaRegistryLike } from '../engine/codec/index.js';
import {
  type Emit,
  insertIgnore,
  type ProjectionDefinition,
  source,
  upsert,
} from '../engine/projection/index.js';
import type { LabelAssigned } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'labels' | 'label_history';

/**
 * Ground-truth labels (migrations/0102_labels.sql): every LabelAssigned in label_history, and
 * the current label of each subject in labels. The topic is keyed by subject, so a subject's
 * labels are applied in log order and the upsert leaves the latest, the catalogue's rule.
 */
export function labelsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  const columns = {
    subject_id: 'text',
    label: 'text',
    upload_id: 'uuid',
    labeler: 'text',
    source: 'text',
    confidence: 'float8',
  } as const;
  return {
    name: 'labels',
    version,
    targets: {
      labels: {
        table: 'labels',
        columns: { ...columns, labelled_at: 'timestamptz' },
        key: ['subject_id'],
        conflict: upsert('label', 'upload_id', 'labeler', 'source', 'confidence', 'labelled_at'),
      },
      label_history: {
        table: 'label_history',
        columns: { ...columns, occurred_at: 'timestamptz' },
        // No id of its own: appended, exactly once thanks to the runner's checkpoint.
        key: [],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source('labels.label.assigned', eventDecoder(registry, 'sluice.labels.LabelAssigned'), projectLabel),
    ],
    setup: buildVersion('labels', version, ['labels', 'label_history']),
  };
}

function projectLabel(e: LabelAssigned, emit: Emit<Target>): void {
  const row = {
    subject_id: e.subjectId,
    label: e.label,
    upload_id: e.uploadId,
    labeler: e.labeler,
    source: e.source,
    confidence: e.confidence,
  };
  emit('labels', { ...row, labelled_at: at(e.occurredAt) });
  emit('label_history', { ...row, occurred_at: at(e.occurredAt) });
}
