import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import sharp from 'sharp';
import { LocalBlobStore } from '../../engine/blob/index.js';
import { AvroDeserializer, AvroSerializer } from '../../engine/codec/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { StreamsApp, StreamsBuilder } from '../../engine/topology/index.js';
import { catalogue } from '../../projections/decoders.js';
import type { FeaturesComputed, UploadReceived } from '../../schemas/generated/events.js';
import { FEATURES_TOPIC, imageFeatures, UPLOADS_TOPIC } from '../../topologies/images/features.js';
import { preprocessImage, tensorFromBytes } from '../../topologies/images/preprocess.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';
import { readAll, withAdmin } from '../helpers/readAll.js';

const schema = (name: string) => catalogue().schemas.get(name)!.json;

describe('image features topology', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  const dir = tempDir('sluice-features-');
  before(async () => {
    platform = await withPlatform();
  });
  after(async () => {
    await platform.stop();
    dir.remove();
  });

  it('turns image uploads into FeaturesComputed, inline or in the blob store, and dead-letters bad blobs', async () => {
    const kafka = kafkaClient(platform.bootstrap);
    kafka.logger().setLogLevel(logLevel.NOTHING);
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        topics: [UPLOADS_TOPIC, FEATURES_TOPIC].map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      }),
    );
    const blobs = new LocalBlobStore(join(dir.path, 'blobs'));
    const registry = new RegistryClient({ url: platform.registryUrl });
    const colours = [
      { r: 255, g: 0, b: 0 },
      { r: 10, g: 200, b: 30 },
      { r: 0, g: 0, b: 255 },
    ];
    const images = await Promise.all(
      colours.map((background, i) =>
        sharp({ create: { width: 20 + i, height: 10, channels: 3, background } })
          .jpeg()
          .toBuffer(),
      ),
    );
    const stored = await Promise.all(images.map((b) => blobs.put(b)));
    const corrupt = await blobs.put(images[0]!.subarray(0, 200));
    const upload = (i: number, sha256: string, contentType = 'image/jpeg'): UploadReceived => ({
      uploadId: randomUUID(),
      subjectId: `subject-${i}`,
      sha256,
      contentType,
      sizeBytes: 1,
      blobUri: blobs.uriOf(sha256),
      filename: null,
      uploader: null,
      channel: 'HTTP',
      metadata: {},
      occurredAt: Date.UTC(2026, 10, 22, 12, 0, i),
    });
    const uploads = [
      ...stored.map((s, i) => upload(i, s.sha256)),
      upload(3, corrupt.sha256),
      upload(4, 'f'.repeat(64)), // no such blob
      upload(5, stored[0]!.sha256, 'text/csv'), // not an image: passes by
    ];
    const serializer = new AvroSerializer<UploadReceived>(
      registry,
      `${UPLOADS_TOPIC}-value`,
      schema('sluice.ingest.UploadReceived'),
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: UPLOADS_TOPIC,
      messages: await Promise.all(
        uploads.map(async (u) => ({ key: u.subjectId, value: await serializer.encode(u) })),
      ),
    });
    await producer.disconnect();

    const builder = new StreamsBuilder();
    // 8x8 travels inline (192 values); 16x16 (768) goes to the blob store.
    imageFeatures(builder, {
      registry,
      blobs,
      recipe: { width: 8, height: 8, fit: 'fill', limitInputPixels: 1e6 },
    });
    const big = new StreamsBuilder();
    imageFeatures(big, {
      registry,
      blobs,
      recipe: { width: 16, height: 16, fit: 'fill', limitInputPixels: 1e6 },
      inlineMaxValues: 500,
    });
    const apps = [];
    for (const [i, b] of [builder, big].entries()) {
      apps.push(
        await StreamsApp.start({
          applicationId: `features-${i}-${randomUUID()}`,
          kafka,
          topology: b.build(),
          stateDir: join(dir.path, `state-${i}`),
        }),
      );
    }
    const features = new AvroDeserializer<FeaturesComputed>(
      registry,
      schema('sluice.features.FeaturesComputed'),
    );
    try {
      const deadline = Date.now() + 30_000;
      let out = await readAll(kafka, FEATURES_TOPIC);
      while (out.length < 6 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        out = await readAll(kafka, FEATURES_TOPIC);
      }
      const decoded = await Promise.all(out.map(async (r) => features.decode(r.value!)));
      assert.equal(decoded.length, 6, 'three images through each of the two apps');
      const inline = decoded.filter((f) => f.values !== null);
      const referenced = decoded.filter((f) => f.vector !== null);
      assert.equal(inline.length, 3);
      assert.equal(referenced.length, 3);
      for (const [i, bytes] of images.entries()) {
        const small = inline.find((f) => f.subjectId === `subject-${i}`)!;
        const expected = await preprocessImage(bytes, {
          width: 8,
          height: 8,
          fit: 'fill',
          limitInputPixels: 1e6,
        });
        assert.deepEqual(small.shape, [8, 8, 3]);
        assert.deepEqual(Float32Array.from(small.values!), expected.tensor);
        assert.deepEqual(small.summary, expected.summary);
        assert.equal(small.sourceKind, 'UPLOAD');
        assert.equal(small.sourceId, uploads[i]!.uploadId);
        assert.equal(small.featureSet, 'image-8x8-rgb');
        assert.equal(small.occurredAt, uploads[i]!.occurredAt);
        assert.equal(small.preprocessing.scale, 1 / 255);
        assert.equal(small.summary.width, 20 + i);
        const large = referenced.find((f) => f.subjectId === `subject-${i}`)!;
        const tensor = tensorFromBytes(await blobs.get(large.vector!.sha256));
        const expected16 = await preprocessImage(bytes, {
          width: 16,
          height: 16,
          fit: 'fill',
          limitInputPixels: 1e6,
        });
        assert.deepEqual(tensor, expected16.tensor);
        assert.equal(large.vector!.sizeBytes, 16 * 16 * 3 * 4);
        assert.equal(large.vector!.encoding, 'FLOAT32_LE');
      }
      const dlq = await readAll(kafka, `${UPLOADS_TOPIC}.dlq`);
      assert.equal(dlq.length, 4, 'the corrupt and the missing blob, once per app');
      const reasons = dlq.map(
        (d) => `${d.headers['sluice.error-class']}: ${d.headers['sluice.error-message']}`,
      );
      assert.equal(reasons.filter((r) => r.startsWith('ImageDecodeError')).length, 2, reasons.join('\n'));
      assert.equal(reasons.filter((r) => r.startsWith('BlobNotFoundError')).length, 2, reasons.join('\n'));
      for (const d of dlq) assert.equal(d.headers['sluice.dlq-kind'], 'processing');
    } finally {
      for (const app of apps) await app.close();
    }
  });
});
