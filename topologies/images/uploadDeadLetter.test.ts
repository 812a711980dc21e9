import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { AvroSerializer, type SchemaRegistryLike } from '../../engine/codec/index.js';
import type { DeadLetterValue } from '../../engine/topology/index.js';
import { catalogue } from '../../projections/decoders.js';
import { rejectedUploadDeadLetter } from './uploadDeadLetter.js';
import { UploadRejectedError } from './uploadErrors.js';

const registry: SchemaRegistryLike = {
  getSchemaById: async () => '',
  register: async () => 7,
  lookup: async () => ({ id: 7, version: 1 }),
};

async function serializer(): Promise<AvroSerializer<DeadLetterValue>> {
  const s = new AvroSerializer<DeadLetterValue>(
    registry,
    'platform.deadletter.recorded-value',
    catalogue().schemas.get('sluice.platform.DeadLetterRecorded')!.json,
  );
  await s.schemaId();
  return s;
}

const decode = (s: AvroSerializer<DeadLetterValue>, b: Buffer) =>
  s.type.fromBuffer(b.subarray(5)) as DeadLetterValue;

const header = (v: DeadLetterValue, k: string) =>
  v.originalHeaders.find((h) => h.key === k)?.value?.toString();

describe('rejectedUploadDeadLetter', () => {
  it('records the whole file when it fits, with the reason and what came with it', async () => {
    const s = await serializer();
    const bytes = Buffer.from('not really a jpeg');
    const error = new UploadRejectedError('corrupt', 'file "a.jpg": image cannot be decoded: broken');
    const { topic, message } = rejectedUploadDeadLetter(
      s,
      'ingest.upload.received',
      {
        bytes,
        filename: 'a.jpg',
        contentType: 'image/jpeg',
        channel: 'HTTP',
        fields: { label: 'cat' },
        error,
      },
      1024,
      1_700_000_000_000,
    );
    assert.equal(topic, 'ingest.upload.received.dlq');
    assert.equal(String(message.key), 'ingest.upload.received');
    assert.equal(message.headers?.['sluice.error-code'], 'SLUICE_INGEST_CORRUPT_IMAGE');
    const v = decode(s, message.value as Buffer);
    assert.deepEqual(
      { ...v, originalHeaders: [] },
      {
        sourceTopic: 'ingest.upload.received',
        sourcePartition: -1,
        sourceOffset: -1,
        sourceTimestamp: 1_700_000_000_000,
        originalKey: null,
        originalValue: bytes,
        originalHeaders: [],
        errorClass: 'UploadRejectedError',
        errorCode: 'SLUICE_INGEST_CORRUPT_IMAGE',
        message: 'file "a.jpg": image cannot be decoded: broken',
        stack: null,
        stage: 'VALIDATE',
        consumerGroup: null,
        attempts: 1,
        occurredAt: 1_700_000_000_000,
      },
    );
    assert.equal(header(v, 'sluice.ingest.filename'), 'a.jpg');
    assert.equal(header(v, 'sluice.ingest.label'), 'cat');
    assert.equal(header(v, 'sluice.ingest.channel'), 'HTTP');
    assert.equal(header(v, 'sluice.ingest.truncated'), 'false');
    assert.equal(header(v, 'sluice.ingest.sha256'), createHash('sha256').update(bytes).digest('hex'));
  });

  it('keeps a prefix of a file over the limit and says so', async () => {
    const s = await serializer();
    const bytes = Buffer.alloc(5000, 0xab);
    const error = new UploadRejectedError('corrupt', 'bad');
    const { message } = rejectedUploadDeadLetter(
      s,
      'ingest.upload.received',
      { bytes, channel: 'IMPORT', fields: {}, error },
      1000,
      1,
    );
    const v = decode(s, message.value as Buffer);
    assert.deepEqual(v.originalValue, bytes.subarray(0, 1000));
    assert.equal(v.message, 'bad (original 5000 bytes; only the first 1000 are kept here)');
    assert.equal(header(v, 'sluice.ingest.truncated'), 'true');
    assert.equal(header(v, 'sluice.ingest.size-bytes'), '5000');
  });

  it('given a prefix of a larger file, reports the real size and no address', async () => {
    const s = await serializer();
    const error = new UploadRejectedError('too-large', 'too large');
    const { message } = rejectedUploadDeadLetter(
      s,
      'ingest.upload.received',
      { bytes: Buffer.alloc(100, 1), sizeBytes: 1_000_000, channel: 'IMPORT', fields: {}, error },
      1000,
      1,
    );
    const v = decode(s, message.value as Buffer);
    assert.equal(v.originalValue?.length, 100);
    assert.equal(v.message, 'too large (original 1000000 bytes; only the first 100 are kept here)');
    assert.equal(header(v, 'sluice.ingest.sha256'), undefined);
  });
});
