import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { logLevel } from 'kafkajs';
import { LocalBlobStore } from '../../engine/blob/index.js';
import { AvroSerializer } from '../../engine/codec/index.js';
import { createHttpServer } from '../../engine/http/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { catalogue, EventTypeDecoder } from '../../projections/decoders.js';
import type {
  FeaturesComputed,
  LabelAssigned,
  SluiceEventName,
  TrainingCompleted,
  TrainingFailed,
  TrainingProgressed,
  TrainingRequested,
  TrainingStarted,
} from '../../schemas/generated/events.js';
import { LABELS_TOPIC } from '../../topologies/images/dataset.js';
import { FEATURES_TOPIC } from '../../topologies/images/features.js';
import { TRAINING_TOPIC, Trainer } from '../../topologies/images/trainer.js';
import { registerTrainingRoutes, TrainingRequests } from '../../topologies/images/trainingRoutes.js';
import { artifactDirOf, verifyArtifact } from '../../topologies/models/artifact.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { sluice } from '../helpers/cli.js';
import { withPlatform } from '../helpers/platform.js';
import { readAll, withAdmin } from '../helpers/readAll.js';

const lifecycle = [
  'sluice.training.TrainingRequested',
  'sluice.training.TrainingStarted',
  'sluice.training.TrainingProgressed',
  'sluice.training.TrainingCompleted',
  'sluice.training.TrainingFailed',
] as const;

const serializer = <T>(registry: RegistryClient, topic: string, name: SluiceEventName) => {
  const subject = catalogue()
    .topic(topic)
    .subjects.find((s) => s.fullName === name)!.subject;
  return new AvroSerializer<T>(registry, subject, catalogue().schemas.get(name)!.json);
};

/** A noisy 8x8 RGB image, bright or dark, from a deterministic generator. */
function image(bright: boolean, i: number): number[] {
  let s = i * 7919 + 13;
  const noise = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648 - 0.5) * 0.4;
  };
  return Array.from({ length: 8 * 8 * 3 }, () => Math.min(1, Math.max(0, (bright ? 0.7 : 0.3) + noise())));
}

describe('training runs as events', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  const dir = tempDir('sluice-training-');
  before(async () => {
    platform = await withPlatform();
  });
  after(async () => {
    await platform.stop();
    dir.remove();
  });

  it('trains on the labelled snapshot, reports every epoch and the holdout metrics, and fails clearly', async () => {
    const kafka = kafkaClient(platform.bootstrap);
    kafka.logger().setLogLevel(logLevel.NOTHING);
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        topics: [
          { topic: LABELS_TOPIC, numPartitions: 3 },
          { topic: FEATURES_TOPIC, numPartitions: 3 },
          { topic: TRAINING_TOPIC, numPartitions: 2 },
        ],
        waitForLeaders: true,
      }),
    );
    const registry = new RegistryClient({ url: platform.registryUrl });
    const features = serializer<FeaturesComputed>(
      registry,
      FEATURES_TOPIC,
      'sluice.features.FeaturesComputed',
    );
    const labels = serializer<LabelAssigned>(registry, LABELS_TOPIC, 'sluice.labels.LabelAssigned');
    const requests = serializer<TrainingRequested>(
      registry,
      TRAINING_TOPIC,
      'sluice.training.TrainingRequested',
    );
    const producer = kafka.producer();
    await producer.connect();
    const subjects = Array.from({ length: 64 }, (_, i) => `s-${String(i).padStart(3, '0')}`);
    const feature = (subjectId: string, i: number, featureSet = 'image-8x8-rgb'): FeaturesComputed => ({
      subjectId,
      sourceKind: 'UPLOAD',
      sourceId: randomUUID(),
      featureSet,
      featureSetVersion: 1,
      shape: [8, 8, 3],
      columns: [],
      values: image(i % 2 === 0, i),
      vector: null,
      preprocessing: {
        resizeWidth: 8,
        resizeHeight: 8,
        resizeFit: 'fill',
        channels: 3,
        scale: 1 / 255,
        mean: [],
        std: [],
        library: null,
        parameters: {},
      },
      summary: {},
      occurredAt: 1_000 + i,
    });
    const label = (subjectId: string, l: string, at: number): LabelAssigned => ({
      subjectId,
      label: l,
      uploadId: null,
      labeler: 'test',
      source: 'ANNOTATOR',
      confidence: null,
      occurredAt: at,
    });
    await producer.send({
      topic: FEATURES_TOPIC,
      messages: [
        ...(await Promise.all(
          subjects.map(async (s, i) => ({ key: s, value: await features.encode(feature(s, i)) })),
        )),
        // Another feature set, and a subject with features but no label: neither is in the dataset.
        { key: 's-000', value: await features.encode(feature('s-000', 1, 'image-16x16-rgb')) },
        { key: 'unlabelled', value: await features.encode(feature('unlabelled', 3)) },
      ],
    });
    await producer.send({
      topic: LABELS_TOPIC,
      messages: [
        // s-001 is first labelled wrongly, then corrected: the latest label counts.
        { key: 's-001', value: await labels.encode(label('s-001', 'bright', 2_000)) },
        ...(await Promise.all(
          subjects.map(async (s, i) => ({
            key: s,
            value: await labels.encode(label(s, i % 2 === 0 ? 'bright' : 'dark', 3_000 + i)),
          })),
        )),
        { key: 'no-features', value: await labels.encode(label('no-features', 'dark', 3_500)) },
      ],
    });
    const request = (runId: string, hyperparameters: Record<string, string>): TrainingRequested => ({
      runId,
      modelName: 'toy',
      trigger: 'MANUAL',
      requestedBy: 'test',
      reason: null,
      baseVersion: null,
      labelsUntil: null,
      holdoutFraction: 0.25,
      seed: 42,
      hyperparameters,
      occurredAt: 5_000,
    });
    const good = { architecture: 'small-cnn', epochs: '4', batchSize: '8', learningRate: '0.01' };
    const runs = [randomUUID(), randomUUID(), randomUUID()];
    await producer.send({
      topic: TRAINING_TOPIC,
      messages: await Promise.all(
        [
          request(runs[0]!, good),
          request(runs[1]!, good),
          request(runs[2]!, { ...good, architecture: 'resnet-9000' }),
        ].map(async (r) => ({ key: r.runId, value: await requests.encode(r) })),
      ),
    });
    await producer.disconnect();
    const ends = await withAdmin(kafka, async (admin) =>
      [
        ...(await admin.fetchTopicOffsets(FEATURES_TOPIC)).map((p) => ({ topic: FEATURES_TOPIC, ...p })),
        ...(await admin.fetchTopicOffsets(LABELS_TOPIC)).map((p) => ({ topic: LABELS_TOPIC, ...p })),
      ]
        .map((p) => ({ topic: p.topic, partition: p.partition, offset: Number(p.high) }))
        .sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition),
    );

    const registered: { runId: string; artifactDir: string; inputShape: number[]; featureSet: string }[] = [];
    const trainer = await Trainer.start({
      kafka,
      registry,
      blobs: new LocalBlobStore(join(dir.path, 'blobs')),
      modelsDir: join(dir.path, 'models'),
      defaultFeatureSet: 'image-8x8-rgb',
      backend: 'cpu',
      groupId: `trainer-${randomUUID()}`,
      onCompleted: async (run, artifactDir, inputShape, featureSet) => {
        registered.push({ runId: run.runId, artifactDir, inputShape, featureSet });
      },
    });
    const decoder = new EventTypeDecoder(registry, lifecycle);
    type Seen = Awaited<ReturnType<typeof decoder.decode>>;
    let events: Seen[] = [];
    try {
      const deadline = Date.now() + 90_000;
      const finished = () =>
        runs.every((id) =>
          events.some(
            (e) =>
              (e.type === 'sluice.training.TrainingCompleted' ||
                e.type === 'sluice.training.TrainingFailed') &&
              e.event.runId === id,
          ),
        );
      while (!finished() && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        events = await Promise.all(
          (await readAll(kafka, TRAINING_TOPIC)).map((r) => decoder.decode(r.value!)),
        );
      }
      assert.equal(trainer.error, null);
      assert.ok(finished(), `runs did not finish: ${events.map((e) => e.type).join(', ')}`);

      // `sluice train --wait` requests a run from the command line and follows it to its end.
      const cli = await sluice(
        [
          'train',
          'toy',
          '--architecture',
          'small-cnn',
          '--epochs',
          '2',
          '--batch-size',
          '8',
          '--seed',
          '3',
          '--wait',
        ],
        { env: { KAFKA_BROKERS: platform.bootstrap, SCHEMA_REGISTRY_URL: platform.registryUrl } },
      );
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /^requested training run [0-9a-f-]{36} of toy \(seed 3\)$/m);
      assert.match(cli.stdout, /^started on .*: 51 training, 13 holdout examples, 2 epochs$/m);
      assert.match(cli.stdout, /^epoch 2\/2: .*loss/m);
      assert.match(cli.stdout, /^completed in .* s: accuracy [\d.]+, macro F1 [\d.]+; artifact file:\/\//m);
    } finally {
      await trainer.close();
    }
    const of = <T>(runId: string, type: (typeof lifecycle)[number]) =>
      events.filter((e) => e.type === type && e.event.runId === runId).map((e) => e.event as T);

    const [first, second, bad] = runs as [string, string, string];
    const [started] = of<TrainingStarted>(first, 'sluice.training.TrainingStarted');
    assert.equal(started!.trainingExamples, 48);
    assert.equal(started!.holdoutExamples, 16);
    assert.deepEqual(
      of<TrainingProgressed>(first, 'sluice.training.TrainingProgressed').map((p) => [p.epoch, p.epochs]),
      [
        [1, 4],
        [2, 4],
        [3, 4],
        [4, 4],
      ],
    );
    const [done] = of<TrainingCompleted>(first, 'sluice.training.TrainingCompleted');
    assert.ok(done, 'the first run completed');
    assert.deepEqual(done.classLabels, ['bright', 'dark']);
    assert.ok(done.metrics.accuracy! >= 0.9, `holdout accuracy ${done.metrics.accuracy}`);
    for (const k of ['precision.bright', 'recall.dark', 'f1.dark', 'macro_f1'])
      assert.ok(k in done.metrics, k);
    assert.equal(
      done.confusionMatrix.flat().reduce((a, b) => a + b, 0),
      16,
    );
    assert.deepEqual(
      done.dataset?.offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
      ends,
    );
    assert.equal(done.dataset?.featureSet, 'image-8x8-rgb');
    assert.equal(done.dataset?.seed, 42);
    await verifyArtifact(artifactDirOf(done.artifactUri), done.artifactSha256);
    // Completed runs are handed on for registration, failed ones are not.
    const handed = registered.find((r) => r.runId === first);
    assert.deepEqual(handed, {
      runId: first,
      artifactDir: artifactDirOf(done.artifactUri),
      inputShape: [8, 8, 3],
      featureSet: 'image-8x8-rgb',
    });
    assert.equal(registered.filter((r) => r.runId === runs[2]).length, 0);

    // The same snapshot and seed on the cpu backend: the same model and metrics.
    const [again] = of<TrainingCompleted>(second, 'sluice.training.TrainingCompleted');
    assert.deepEqual(again!.metrics, { ...done.metrics, final_loss: again!.metrics.final_loss });
    assert.equal(again!.metrics.final_loss, done.metrics.final_loss);
    assert.deepEqual(again!.confusionMatrix, done.confusionMatrix);
    assert.equal(again!.artifactSha256, done.artifactSha256);

    const [failed] = of<TrainingFailed>(bad, 'sluice.training.TrainingFailed');
    assert.match(failed!.message, /unknown architecture resnet-9000/);
    assert.deepEqual(of(bad, 'sluice.training.TrainingStarted'), []);
  });

  it('POST /v1/training-runs requests a run as an event, and refuses a bad body', async () => {
    const kafka = kafkaClient(platform.bootstrap);
    kafka.logger().setLogLevel(logLevel.NOTHING);
    const registry = new RegistryClient({ url: platform.registryUrl });
    const requests = await TrainingRequests.start(kafka, registry);
    const app = createHttpServer();
    registerTrainingRoutes(app, requests);
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/training-runs',
        payload: { modelName: 'toy', seed: 7, holdoutFraction: 0.3, hyperparameters: { epochs: '2' } },
      });
      assert.equal(res.statusCode, 202, res.body);
      const { runId, seed } = res.json() as { runId: string; seed: number };
      assert.equal(seed, 7);
      const decoder = new EventTypeDecoder(registry, lifecycle);
      const events = await Promise.all(
        (await readAll(kafka, TRAINING_TOPIC)).map((r) => decoder.decode(r.value!)),
      );
      const requested = events.find(
        (e) => e.type === 'sluice.training.TrainingRequested' && e.event.runId === runId,
      );
      assert.ok(requested, 'the request is on the topic');
      const event = requested.event as TrainingRequested;
      assert.equal(event.modelName, 'toy');
      assert.equal(event.trigger, 'MANUAL');
      assert.equal(event.holdoutFraction, 0.3);
      assert.deepEqual({ ...event.hyperparameters }, { epochs: '2' });
      for (const payload of [
        {},
        { modelName: 'bad name!' },
        { modelName: 'toy', holdoutFraction: 1.5 },
        { modelName: 'toy', seed: -1 },
      ]) {
        const bad = await app.inject({ method: 'POST', url: '/v1/training-runs', payload });
        assert.equal(bad.statusCode, 400, JSON.stringify(payload));
        assert.ok((bad.json() as { error: { message: string } }).error.message, 'a JSON error');
      }
    } finally {
      await app.close();
      await requests.close();
    }
  });
});
