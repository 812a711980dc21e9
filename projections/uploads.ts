import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { UploadReceived } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'uploads';

/** Uploads by reference to the blob store, one row per UploadReceived (migrations/0101_uploads.sql). */
export function uploadsProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'uploads',
    version,
    targets: {
      uploads: {
        table: 'uploads',
        columns: {
          upload_id: 'uuid',
          subject_id: 'text',
          sha256: 'text',
          content_type: 'text',
          size_bytes: 'int8',
          blob_uri: 'text',
          filename: 'text',
          uploader: 'text',
          channel: 'text',
          metadata: 'jsonb',
          occurred_at: 'timestamptz',
        },
        // A redelivered event (a producer retry) is the same upload: the first row stays.
        key: ['upload_id', 'occurred_at'],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source('ingest.upload.received', eventDecoder(registry, 'sluice.ingest.UploadReceived'), projectUpload),
    ],
    setup: buildVersion('uploads', version, ['uploads']),
  };
}

function projectUpload(e: UploadReceived, emit: Emit<Target>): void {
  emit('uploads', {
    upload_id: e.uploadId,
    subject_id: e.subjectId,
    sha256: e.sha256,
    content_type: e.contentType,
    size_bytes: e.sizeBytes,
    blob_uri: e.blobUri,
    filename: e.filename,
    uploader: e.uploader,
    channel: e.channel,
    metadata: e.metadata,
    occurred_at: at(e.occurredAt),
  });
}
