import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { createClient } from 'redis';
import sharp from 'sharp';
import { LocalBlobStore } from '../../engine/blob/index.js';
import { AvroDeserializer, AvroSerializer } from '../../engine/codec/index.js';
import { loadConfig } from '../../engine/config.js';
import { createHttpServer } from '../../engine/http/index.js';
import { selectBackend, tf } from '../../engine/ml/backend.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { StreamsApp, StreamsBuilder } from '../../engine/topology/index.js';
import { catalogue } from '../../projections/decoders.js';
import type { FeaturesComputed, PredictionMade } from '../../schemas/generated/events.js';
import { FEATURES_TOPIC } from '../../topologies/images/features.js';
import { Predictor, streamPredictionId } from '../../topologies/images/inference.js';
import { imageInference } from '../../topologies/images/inferenceTopology.js';
import type { ServedModel } from '../../topologies/images/modelSource.js';
import { PREDICTIONS_TOPIC, PredictionPublisher } from '../../topologies/images/predictionEvents.js';
import {
  type PredictResponse,
  registerPredictRoutes,
  type UploadRef,
} from '../../topologies/images/predictRoutes.js';
import { preprocessImage, recipeDescription, tensorBytes } from '../../topologies/images/preprocess.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { servedCnn, TestModelSource } from '../helpers/modelSource.js';
import { withPlatform } from '../helpers/platform.js';
import { readAll, withAdmin } from '../helpers/readAll.js';

const schema = (name: string) => catalogue().schemas.get(name)!.json;
const RECIPE = { width: 16, height: 16, fit: 'fill' as const, limitInputPixels: 1e6 };

await selectBackend({ backend: 'cpu' });

/** A JPEG of a colour gradient: `seed` makes it differ from the others. */
function image(seed: number, width = 24, height = 20): Promise<Buffer> {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      pixels[i] = (x * 10 + seed * 37) & 255;
      pixels[i + 1] = (y * 12 + seed * 91) & 255;
      pixels[i + 2] = (x * y + seed * 53) & 255;
    }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .toBuffer();
}

/** What model.predict says of one tensor alone, by class label. */
function direct(served: ServedModel, x: Float32Array): Record<string, number> {
  const values = tf.tidy(() =>
    Array.from((served.model.predict(tf.tensor(x, [1, ...served.inputShape])) as tf.Tensor).dataSync()),
  );
  return Object.fromEntries(served.classLabels.map((l, i) => [l, values[i]!]));
}

function assertScores(actual: Record<string, number>, expected: Record<string, number>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [label, p] of Object.entries(expected)) {
    assert.ok(Math.abs(actual[label]! - p) < 1e-6, `${label}: ${actual[label]} vs ${p}`);
  }
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('image inference: one predictor for the stream and POST /v1/predict', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let kafka: Kafka;
  let registry: RegistryClient;
  let publisher: PredictionPublisher;
  const dir = tempDir('sluice-inference-');
  const blobs = new LocalBlobStore(join(dir.path, 'blobs'));
  const source = new TestModelSource();
  const models: ServedModel[] = [];
  let predictor: Predictor;
  let predictions: AvroDeserializer<PredictionMade>;

  before(async () => {
    platform = await withPlatform();
    kafka = kafkaClient(platform.bootstrap);
    registry = new RegistryClient({ url: platform.registryUrl });
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        topics: [FEATURES_TOPIC, PREDICTIONS_TOPIC].map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      }),
    );
    publisher = await PredictionPublisher.start({ kafka, registry });
    predictor = new Predictor({ source, maxBatchSize: 16, maxQueueDelayMs: 10 });
    predictions = new AvroDeserializer<PredictionMade>(registry, schema('sluice.inference.PredictionMade'));
  });
  after(async () => {
    await predictor.close();
    await publisher.close();
    for (const m of models) m.model.dispose();
    await platform.stop();
    dir.remove();
  });

  const readPredictions = async () =>
    Promise.all((await readAll(kafka, PREDICTIONS_TOPIC)).map(async (r) => predictions.decode(r.value!)));

  async function server(p: Predictor, uploads = new Map<string, UploadRef>()): Promise<FastifyInstance> {
    const app = createHttpServer();
    await registerPredictRoutes(app, {
      predictor: p,
      modelName: 'animals',
      blobs,
      publisher,
      lookupUpload: async (id) => uploads.get(id) ?? null,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app;
  }

  const urlOf = (app: FastifyInstance) => {
    const a = app.server.address();
    return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/v1/predict`;
  };

  async function postImage(url: string, bytes: Buffer, fields: Record<string, string> = {}) {
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' }), 'x.jpg');
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    const res = await fetch(url, { method: 'POST', body: form });
    return { status: res.status, body: (await res.json()) as PredictResponse & { error?: { code: string } } };
  }

  async function postJson(url: string, body: unknown) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as PredictResponse & { error?: { code: string } } };
  }

  it('the topology waits for a champion, then turns FeaturesComputed into PredictionMade as model.predict scores them', async () => {
    const images = await Promise.all([1, 2, 3, 4].map((s) => image(s)));
    const tensors = await Promise.all(images.map(async (b) => (await preprocessImage(b, RECIPE)).tensor));
    const stored = await blobs.put(tensorBytes(tensors[3]!));
    const features = (i: number, over: Partial<FeaturesComputed> = {}): FeaturesComputed => ({
      subjectId: `subject-${i}`,
      sourceKind: 'UPLOAD',
      sourceId: `upload-${i}`,
      featureSet: 'image-16x16-rgb',
      featureSetVersion: 1,
      shape: [16, 16, 3],
      columns: [],
      values: i < 3 ? Array.from(tensors[i]!) : null,
      vector: null,
      preprocessing: recipeDescription(RECIPE),
      summary: {},
      occurredAt: Date.UTC(2026, 10, 22, 12, 0, i),
      ...over,
    });
    const inputs = [
      features(0),
      features(1),
      features(2),
      features(3, {
        vector: {
          uri: stored.uri,
          sha256: stored.sha256,
          sizeBytes: stored.sizeBytes,
          encoding: 'FLOAT32_LE',
        },
      }),
      features(4, { featureSet: 'image-8x8-rgb', shape: [8, 8, 3], values: Array(192).fill(0.5) }),
      features(5, {
        vector: {
          uri: blobs.uriOf('e'.repeat(64)),
          sha256: 'e'.repeat(64),
          sizeBytes: 3072,
          encoding: 'FLOAT32_LE',
        },
      }),
    ];
    const subject = catalogue().topic(FEATURES_TOPIC).subjects[0]!.subject;
    const serializer = new AvroSerializer<FeaturesComputed>(
      registry,
      subject,
      schema('sluice.features.FeaturesComputed'),
    );
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: FEATURES_TOPIC,
      messages: await Promise.all(
        inputs.map(async (f) => ({ key: f.subjectId, value: await serializer.encode(f) })),
      ),
    });
    await producer.disconnect();

    const builder = new StreamsBuilder();
    imageInference(builder, { registry, blobs, predictor, modelName: 'animals', championWaitMs: 20_000 });
    const app = await StreamsApp.start({
      applicationId: `inference-${randomUUID()}`,
      kafka,
      topology: builder.build(),
      stateDir: join(dir.path, 'state'),
    });
    try {
      // No champion: nothing is predicted, nothing is dead-lettered; the records wait.
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal((await readPredictions()).length, 0);
      const v1 = servedCnn('animals', 1);
      models.push(v1);
      source.promote(v1);

      const out = await until('4 stream predictions', async () => {
        const all = await readPredictions();
        return all.length >= 4 ? all : null;
      });
      assert.equal(
        out.length,
        4,
        'the 8x8 features are another model’s; the missing tensor is dead-lettered',
      );
      for (const i of [0, 1, 2, 3]) {
        const p = out.find((e) => e.subjectId === `subject-${i}`)!;
        assertScores(
          Object.fromEntries(p.probabilities.map((c) => [c.label, c.probability])),
          direct(v1, tensors[i]!),
        );
        assert.equal(p.servedBy, 'STREAM');
        assert.equal(p.modelName, 'animals');
        assert.equal(p.modelVersion, 1);
        assert.equal(p.featureSet, 'image-16x16-rgb');
        assert.equal(p.occurredAt, inputs[i]!.occurredAt, 'event time from the features');
        assert.equal(p.topLabel, p.probabilities[0]!.label);
        assert.equal(p.confidence, p.probabilities[0]!.probability);
        assert.equal(
          p.predictionId,
          streamPredictionId(`UPLOAD:upload-${i}:image-16x16-rgb:1`, 'animals', 1),
          'a replay gives the same id',
        );
        assert.ok(p.batchSize >= 1);
      }
      const dlq = await until('the dead letter', async () => {
        const d = await readAll(kafka, `${FEATURES_TOPIC}.dlq`).catch(() => []);
        return d.length > 0 ? d : null;
      });
      assert.equal(dlq.length, 1);
      assert.equal(dlq[0]!.headers['sluice.error-class'], 'BlobNotFoundError');
      assert.equal(dlq[0]!.key!.toString(), 'subject-5');
    } finally {
      await app.close();
    }
  });

  it('POST /v1/predict answers, emits PredictionMade (HTTP), batches 50 concurrent requests, survives a hot swap', async () => {
    const v1 = source.champion('animals')!;
    const uploads = new Map<string, UploadRef>();
    const app = await server(predictor, uploads);
    const url = urlOf(app);
    try {
      // One image, three ways: multipart, then by sha256 and by uploadId (answered from the cache).
      const bytes = await image(10);
      const res = await postImage(url, bytes, { subjectId: 'subject-http' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const expected = direct(v1, (await preprocessImage(bytes, RECIPE)).tensor);
      assertScores(res.body.scores, expected);
      assert.equal(res.body.label, Object.entries(expected).sort((a, b) => b[1] - a[1])[0]![0]);
      assert.deepEqual(
        [res.body.model, res.body.version, res.body.subjectId, res.body.cached],
        ['animals', 1, 'subject-http', false],
      );
      const blob = await blobs.put(bytes);
      assert.equal(blob.sha256, createHash('sha256').update(bytes).digest('hex'));
      const bySha = await postJson(url, { sha256: blob.sha256 });
      assert.equal(bySha.status, 200, JSON.stringify(bySha.body));
      assert.equal(bySha.body.cached, true, 'same image, same model version: from the cache');
      assert.deepEqual(bySha.body.scores, res.body.scores);
      assert.equal(
        bySha.body.subjectId,
        bySha.body.predictionId,
        'no subject given: the prediction is its own',
      );
      uploads.set('upload-42', { sha256: blob.sha256, subjectId: 'subject-42' });
      const byUpload = await postJson(url, { uploadId: 'upload-42' });
      assert.equal(byUpload.status, 200);
      assert.equal(byUpload.body.subjectId, 'subject-42');

      const events = await readPredictions();
      const event = events.find((e) => e.predictionId === res.body.predictionId)!;
      assert.ok(event, 'the answer was recorded');
      assert.equal(event.servedBy, 'HTTP');
      assert.equal(event.subjectId, 'subject-http');
      assert.equal(event.modelVersion, 1);
      assert.equal(event.topLabel, res.body.label);
      assert.equal(event.latencyMs, res.body.latencyMs);
      assert.ok(
        events.some((e) => e.predictionId === byUpload.body.predictionId && e.subjectId === 'subject-42'),
      );

      // Refusals, as the uploads route answers them; no champion: 503.
      const notImage = await postImage(url, Buffer.from('just some text, not pixels'));
      assert.deepEqual([notImage.status, notImage.body.error?.code], [415, 'SLUICE_INGEST_NOT_AN_IMAGE']);
      const corrupt = await postImage(url, (await image(11)).subarray(0, 300));
      assert.deepEqual([corrupt.status, corrupt.body.error?.code], [400, 'SLUICE_INGEST_CORRUPT_IMAGE']);
      const noModel = await postImage(`${url}?model=nobody`, bytes);
      assert.deepEqual([noModel.status, noModel.body.error?.code], [503, 'SLUICE_INFERENCE_NO_CHAMPION']);
      const badJson = await postJson(url, { sha256: 'nope' });
      assert.deepEqual([badJson.status, badJson.body.error?.code], [400, 'SLUICE_INFERENCE_INVALID_REQUEST']);
      const unknownUpload = await postJson(url, { uploadId: 'upload-0' });
      assert.equal(unknownUpload.status, 404);

      // 50 concurrent requests: all answered, in batches.
      const distinct = await Promise.all(Array.from({ length: 50 }, (_, i) => image(100 + i)));
      const tensorsBefore = tf.memory().numTensors;
      const answers = await Promise.all(distinct.map((b) => postImage(url, b)));
      assert.deepEqual(
        answers.filter((a) => a.status !== 200).map((a) => a.body),
        [],
      );
      assert.ok(
        answers.some((a) => a.body.batchSize > 1),
        `batch sizes: ${answers.map((a) => a.body.batchSize)}`,
      );
      assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensor leaked');

      // Hot swap under load: the source promotes v2 while requests run; none fails.
      const v2 = servedCnn('animals', 2);
      models.push(v2);
      // As a registry-backed source does: the old model is disposed once the predictor is done with it.
      let disposed = false;
      const stop = source.onChange((_, served) => {
        if (served !== v2) return;
        void predictor.idle(v1).then(() => {
          models.splice(models.indexOf(v1), 1);
          v1.model.dispose();
          disposed = true;
        });
      });
      const more = await Promise.all(Array.from({ length: 60 }, (_, i) => image(200 + i)));
      let answered = 0;
      let promotedAt = -1;
      const load = more.map((b, i) =>
        (async () => {
          // The second half starts after the promotion.
          if (i >= 30) await until('the promotion', async () => (promotedAt >= 0 ? true : null), 10_000);
          const a = await postImage(url, b);
          if (++answered === 10) {
            source.promote(v2);
            promotedAt = answered;
          }
          return a;
        })(),
      );
      const swapped = await Promise.all(load);
      assert.deepEqual(
        swapped.filter((a) => a.status !== 200).map((a) => a.body),
        [],
        'zero failed requests',
      );
      assert.ok(
        swapped.slice(30).every((a) => a.body.version === 2),
        'requests after the promotion: v2',
      );
      assert.ok(swapped.slice(0, 10).some((a) => a.body.version === 1));
      stop();
      assert.ok(disposed, 'v1 was disposed after its last request, and no request failed for it');
      const after = await postImage(url, bytes);
      assert.deepEqual(
        [after.body.version, after.body.cached],
        [2, false],
        'a new version is a new cache key',
      );
    } finally {
      await app.close();
    }
  });

  it('a model without a champion: records wait championWaitMs, then are dead-lettered with the reason', async () => {
    const builder = new StreamsBuilder();
    imageInference(builder, { registry, blobs, predictor, modelName: 'nobody', championWaitMs: 400 });
    const app = await StreamsApp.start({
      applicationId: `inference-nobody-${randomUUID()}`,
      kafka,
      topology: builder.build(),
      stateDir: join(dir.path, 'state-nobody'),
    });
    try {
      const waited = await until('six dead letters', async () => {
        const d = (await readAll(kafka, `${FEATURES_TOPIC}.dlq`)).filter(
          (r) => r.headers['sluice.error-code'] === 'SLUICE_INFERENCE_NO_CHAMPION',
        );
        return d.length >= 6 ? d : null;
      });
      assert.equal(waited.length, 6, 'every features record of the first test, once');
      assert.match(
        waited[0]!.headers['sluice.error-message']!,
        /model nobody has had no champion for 400 ms/,
      );
      assert.equal((await readPredictions()).filter((p) => p.modelName === 'nobody').length, 0);
    } finally {
      await app.close();
    }
  });

  it('with REDIS_URL the cache is Redis, shared by predictor instances, with a TTL', async () => {
    process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
    const redisUrl = loadConfig().REDIS_URL!;
    const prefix = `sluice-test-${randomUUID()}:`;
    const make = () => Predictor.create({ source, redisUrl, cacheKeyPrefix: prefix, cacheTtlSeconds: 60 });
    const [first, second] = [await make(), await make()];
    assert.equal(first.cache?.kind, 'redis');
    const a = await server(first);
    const b = await server(second);
    const admin = createClient({ url: redisUrl });
    await admin.connect();
    try {
      const bytes = await image(77);
      const one = await postImage(urlOf(a), bytes);
      const two = await postImage(urlOf(b), bytes);
      assert.deepEqual([one.status, two.status], [200, 200]);
      assert.deepEqual(
        [one.body.cached, two.body.cached],
        [false, true],
        'another instance reads it from Redis',
      );
      assert.deepEqual(two.body.scores, one.body.scores);
      const keys = await admin.keys(`${prefix}*`);
      const sha = createHash('sha256').update(bytes).digest('hex');
      assert.deepEqual(keys, [`${prefix}animals@${one.body.version}:image:${sha}:fill`]);
      const ttl = await admin.ttl(keys[0]!);
      assert.ok(ttl > 0 && ttl <= 60, `ttl ${ttl}`);
    } finally {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(keys);
      await admin.close();
      await a.close();
      await b.close();
      await first.close();
      await second.close();
    }
  });
});
