import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { FeedbackReceived } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'feedback';

/** Feedback on predictions, one row per FeedbackReceived (migrations/0105_feedback.sql). */
export function feedbackProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'feedback',
    version,
    targets: {
      feedback: {
        table: 'feedback',
        columns: {
          prediction_id: 'uuid',
          subject_id: 'text',
          correct: 'bool',
          actual_label: 'text',
          comment: 'text',
          given_by: 'text',
          channel: 'text',
          occurred_at: 'timestamptz',
        },
        // Feedback has no id of its own: appended, exactly once thanks to the runner's checkpoint.
        key: [],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source(
        'feedback.feedback.received',
        eventDecoder(registry, 'sluice.feedback.FeedbackReceived'),
        projectFeedback,
      ),
    ],
    setup: buildVersion('feedback', version, ['feedback']),
  };
}

function projectFeedback(e: FeedbackReceived, emit: Emit<Target>): void {
  emit('feedback', {
    prediction_id: e.predictionId,
    subject_id: e.subjectId,
    correct: e.correct,
    actual_label: e.actualLabel,
    comment: e.comment,
    given_by: e.givenBy,
    channel: e.channel,
    occurred_at: at(e.occurredAt),
  });
}
