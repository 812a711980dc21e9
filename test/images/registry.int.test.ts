import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { envelopeHeaders } from '../../engine/codec/index.js';
import { createHttpServer } from '../../engine/http/index.js';
import { selectBackend, tf } from '../../engine/ml/backend.js';
import { RegistryClient } from '../../engine/registry/index.js';
import { catalogue, EventTypeDecoder, eventDecoder } from '../../projections/decoders.js';
import type { ServedModel } from '../../topologies/images/modelSource.js';
import { smallCnn } from '../../topologies/images/models.js';
import { artifactDirOf } from '../../topologies/models/artifact.js';
import { ModelRegistry } from '../../topologies/models/modelRegistry.js';
import { type RefusedChampion, RegistryModelSource } from '../../topologies/models/registryModelSource.js';
import { CHAMPION_TOPIC, VERSIONS_TOPIC } from '../../topologies/models/registryState.js';
import { registerModelRoutes } from '../../topologies/models/routes.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { withPlatform } from '../helpers/platform.js';
import { readAll, withAdmin } from '../helpers/readAll.js';

const SIZE = 8;
const LABELS = ['cat', 'dog', 'bird'];
const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);

const cnn = (seed: number) => smallCnn({ inputSize: SIZE, classes: LABELS.length, seed });

/** The same four inputs every time, so two models' outputs can be compared. */
function predict(model: tf.LayersModel): number[] {
  return tf.tidy(() => {
    const x = tf.randomUniform([4, SIZE, SIZE, 3], 0, 1, 'float32', 7);
    return Array.from((model.predict(x) as tf.Tensor).dataSync());
  });
}

describe('model registry (embedded broker, registry, tfjs cpu)', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let kafka: Kafka;
  let schemas: RegistryClient;
  let registry: ModelRegistry;
  let source: RegistryModelSource;
  let app: FastifyInstance;
  const dir = tempDir('sluice-model-registry-');
  const modelsDir = join(dir.path, 'models');
  const transactionalId = `model-registry-${randomUUID()}`;
  const changes: [string, number | null][] = [];
  const refusals: RefusedChampion[] = [];
  let clock = T0;
  const now = () => (clock += 1000);

  before(async () => {
    await selectBackend({ backend: 'cpu' });
    platform = await withPlatform();
    kafka = kafkaClient(platform.bootstrap);
    schemas = new RegistryClient({ url: platform.registryUrl });
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        waitForLeaders: true,
        topics: [VERSIONS_TOPIC, CHAMPION_TOPIC].map((name) => {
          const t = catalogue().topic(name);
          return {
            topic: name,
            numPartitions: t.partitions,
            configEntries: [{ name: 'cleanup.policy', value: t.cleanupPolicy }],
          };
        }),
      }),
    );
    registry = await ModelRegistry.start({ kafka, registry: schemas, modelsDir, transactionalId, now });
    source = await RegistryModelSource.start({ kafka, registry: schemas, disposeAfterMs: 50 });
    source.onChange((name, served) => changes.push([name, served?.version ?? null]));
    source.onError((r) => refusals.push(r));
    app = createHttpServer();
    await registerModelRoutes(app, registry);
  });

  after(async () => {
    await app?.close();
    await source?.close();
    await registry?.close();
    await platform?.stop();
    dir.remove();
  });

  const api = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
    const res = await app.inject({ method, url, ...(body === undefined ? {} : { payload: body as object }) });
    return { status: res.statusCode, body: res.json() };
  };

  const served = (name: string): ServedModel => {
    const s = source.champion(name);
    assert.ok(s, `the source serves ${name}`);
    return s;
  };

  it('registers, promotes and rolls back, and the source follows with the saved models', async () => {
    const v1 = cnn(1);
    const v2 = cnn(2);
    const registered1 = await registry.register({
      modelName: 'pets',
      model: v1,
      classLabels: LABELS,
      featureSet: 'image-8x8-rgb',
      metrics: { accuracy: 0.5 },
      runId: '0190d3a8-7b3c-7cc1-a5c4-2f0c4e1d2b3a',
      registeredBy: 'alice',
    });
    assert.equal(registered1.version, 1);
    assert.deepEqual(registered1.aliases, ['champion']);
    assert.deepEqual(registered1.inputShape, [SIZE, SIZE, 3], 'the model input shape by default');
    await source.settled();
    assert.equal(served('pets').version, 1);
    assert.deepEqual(served('pets').classLabels, LABELS);
    assert.deepEqual(predict(served('pets').model), predict(v1), 'the source serves the saved model');

    const registered2 = await registry.register({
      modelName: 'pets',
      model: v2,
      classLabels: LABELS,
      featureSet: 'image-8x8-rgb',
      metrics: { accuracy: 0.75 },
    });
    assert.equal(registered2.version, 2);
    assert.deepEqual(registered2.aliases, ['challenger']);
    assert.notEqual(registered2.artifactSha256, registered1.artifactSha256);
    await source.settled();
    assert.equal(served('pets').version, 1, 'a new version does not change the champion');
    assert.deepEqual((await api('GET', '/v1/models')).body, {
      models: [{ name: 'pets', champion: 1, challenger: 2, latestVersion: 2 }],
    });

    const promoted = await api('POST', '/v1/models/pets/aliases/champion', { version: 2, by: 'bob' });
    assert.deepEqual(promoted, {
      status: 200,
      body: { name: 'pets', alias: 'champion', version: 2, previousVersion: 1, changed: true },
    });
    await source.settled();
    assert.equal(served('pets').version, 2);
    assert.deepEqual(predict(served('pets').model), predict(v2));
    const again = await api('POST', '/v1/models/pets/aliases/champion', { version: 2 });
    assert.equal(again.body.changed, false, 'promoting the champion is a no-op');

    const versions = await api('GET', '/v1/models/pets/versions');
    assert.equal(versions.status, 200);
    assert.deepEqual(
      versions.body.versions.map((v: { version: number; aliases: string[] }) => [v.version, v.aliases]),
      [
        [1, []],
        [2, ['champion']],
      ],
    );
    assert.equal(versions.body.previousChampion, 1);
    assert.equal(versions.body.versions[0].registeredAt, new Date(T0 + 1000).toISOString());

    const rolled = await api('POST', '/v1/models/pets/rollback', { reason: 'accuracy dropped', by: 'carol' });
    assert.deepEqual(rolled, {
      status: 200,
      body: { name: 'pets', fromVersion: 2, version: 1, reason: 'accuracy dropped' },
    });
    await source.settled();
    assert.equal(served('pets').version, 1);
    assert.deepEqual(predict(served('pets').model), predict(v1));
    assert.deepEqual(registry.models(), [{ name: 'pets', champion: 1, challenger: null, latestVersion: 2 }]);

    const twice = await api('POST', '/v1/models/pets/rollback', {});
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'SLUICE_MODEL_NO_PREVIOUS_CHAMPION');
    assert.deepEqual(
      changes.filter(([n]) => n === 'pets'),
      [
        ['pets', 1],
        ['pets', 2],
        ['pets', 1],
      ],
    );

    // The log: exactly these events, the first promotion caused by the first registration.
    const regs = await readAll(kafka, VERSIONS_TOPIC);
    const decodeVersion = eventDecoder(schemas, 'sluice.models.ModelVersionRegistered');
    const petsVersions = (await Promise.all(regs.map((r) => decodeVersion.decode(r.value!)))).filter(
      (e) => e.modelName === 'pets',
    );
    assert.deepEqual(
      petsVersions.map((e) => [e.version, e.artifactSha256, e.registeredBy, e.runId, e.metrics]),
      [
        [1, registered1.artifactSha256, 'alice', '0190d3a8-7b3c-7cc1-a5c4-2f0c4e1d2b3a', { accuracy: 0.5 }],
        [2, registered2.artifactSha256, null, null, { accuracy: 0.75 }],
      ],
    );
    const champ = await readAll(kafka, CHAMPION_TOPIC);
    const decodeChange = new EventTypeDecoder(schemas, [
      'sluice.models.ModelPromoted',
      'sluice.models.ModelRolledBack',
    ] as const);
    const petsChanges = [];
    for (const r of champ.filter((r) => r.key?.toString() === 'pets')) {
      await decodeChange.load(r.value!.readInt32BE(1));
      petsChanges.push({ ...decodeChange.decodeSync(r.value!), headers: r.headers });
    }
    assert.deepEqual(
      petsChanges.map(({ type, event }) =>
        type === 'sluice.models.ModelPromoted'
          ? [type, event.version, event.previousVersion, event.reason, event.promotedBy]
          : [type, event.version, event.fromVersion, event.reason, event.rolledBackBy],
      ),
      [
        ['sluice.models.ModelPromoted', 1, null, 'FIRST_VERSION', null],
        ['sluice.models.ModelPromoted', 2, 1, 'MANUAL', 'bob'],
        ['sluice.models.ModelRolledBack', 1, 2, 'accuracy dropped', 'carol'],
      ],
    );
    const firstRegistration = regs.find((r) => decodeVersion.decodeSync(r.value!).modelName === 'pets')!;
    assert.equal(
      petsChanges[0]!.headers[envelopeHeaders.causationId],
      firstRegistration.headers[envelopeHeaders.eventId],
    );
    v1.dispose();
    v2.dispose();
  });

  it('answers unknown models, versions and aliases with 404, bad requests with 400 and 422', async () => {
    const m = cnn(3);
    await registry.register({
      modelName: 'solo',
      model: m,
      classLabels: LABELS,
      featureSet: 'image-8x8-rgb',
    });
    m.dispose();
    const cases: [string, string, unknown, number, string][] = [
      ['GET', '/v1/models/nope/versions', undefined, 404, 'SLUICE_MODEL_NOT_FOUND'],
      ['POST', '/v1/models/nope/aliases/champion', { version: 1 }, 404, 'SLUICE_MODEL_NOT_FOUND'],
      ['POST', '/v1/models/nope/rollback', {}, 404, 'SLUICE_MODEL_NOT_FOUND'],
      ['POST', '/v1/models/solo/aliases/champion', { version: 9 }, 404, 'SLUICE_MODEL_VERSION_NOT_FOUND'],
      ['POST', '/v1/models/solo/aliases/staging', { version: 1 }, 404, 'SLUICE_MODEL_ALIAS_UNKNOWN'],
      ['POST', '/v1/models/solo/aliases/challenger', { version: 1 }, 422, 'SLUICE_MODEL_ALIAS_DERIVED'],
      ['POST', '/v1/models/solo/aliases/champion', { version: 'one' }, 400, 'SLUICE_MODEL_INVALID'],
      ['POST', '/v1/models/solo/rollback', {}, 409, 'SLUICE_MODEL_NO_PREVIOUS_CHAMPION'],
    ];
    for (const [method, url, body, status, code] of cases) {
      const res = await api(method as 'GET' | 'POST', url, body);
      assert.deepEqual([res.status, res.body.error?.code], [status, code], `${method} ${url}`);
      assert.equal(typeof res.body.error.message, 'string');
    }
    await assert.rejects(
      registry.register({ modelName: 'solo', model: cnn(4), classLabels: ['a', 'b'], featureSet: 'x' }),
      { code: 'SLUICE_MODEL_INVALID', message: /3 outputs but 2 class labels/ },
    );
    await assert.rejects(
      registry.register({ modelName: '../etc', model: cnn(4), classLabels: LABELS, featureSet: 'x' }),
      { code: 'SLUICE_MODEL_INVALID' },
    );
    assert.equal(registry.versions('solo').latestVersion, 1, 'refused registrations wrote nothing');
  });

  it('gives concurrent registrations distinct versions, and fences a second registry', async () => {
    const models = [5, 6, 7, 8].map(cnn);
    const register = (i: number, r = registry) =>
      r.register({ modelName: 'busy', model: models[i]!, classLabels: LABELS, featureSet: 'image-8x8-rgb' });
    assert.equal((await register(0)).version, 1);
    assert.equal((await register(1)).version, 2);
    const [a, b] = await Promise.all([register(2), register(3)]);
    assert.deepEqual([a.version, b.version], [3, 4]);
    assert.notEqual(a.artifactSha256, b.artifactSha256);

    // A registry started elsewhere with the same transactional id fences this one: its next write
    // fails, and the new one continues from version 5.
    const other = await ModelRegistry.start({ kafka, registry: schemas, modelsDir, transactionalId, now });
    try {
      await assert.rejects(register(0), { code: 'SLUICE_MODEL_REGISTRY_FENCED', statusCode: 503 });
      await assert.rejects(registry.promote('busy', 2), { code: 'SLUICE_MODEL_REGISTRY_FENCED' });
      assert.equal((await register(1, other)).version, 5);
    } finally {
      await other.close();
    }
    const regs = await readAll(kafka, VERSIONS_TOPIC);
    const decode = eventDecoder(schemas, 'sluice.models.ModelVersionRegistered');
    const busy = (await Promise.all(regs.map((r) => decode.decode(r.value!)))).filter(
      (e) => e.modelName === 'busy',
    );
    assert.deepEqual(
      busy.map((e) => e.version),
      [1, 2, 3, 4, 5],
      'each version once, none lost to the fenced write',
    );
    for (const m of models) m.dispose();
  });

  it('refuses a champion whose artifact does not match its SHA-256, and keeps serving the last good one', async () => {
    // The fenced registry of the previous test cannot write any more: a fresh one takes over.
    await registry.close();
    registry = await ModelRegistry.start({ kafka, registry: schemas, modelsDir, transactionalId, now });
    const good = cnn(9);
    const bad = cnn(10);
    await registry.register({ modelName: 'guarded', model: good, classLabels: LABELS, featureSet: 'f' });
    const v2 = await registry.register({
      modelName: 'guarded',
      model: bad,
      classLabels: LABELS,
      featureSet: 'f',
    });
    await source.settled();
    assert.equal(served('guarded').version, 1);

    const weightsFile = join(artifactDirOf(v2.artifactUri), 'weights.bin');
    const weights = await readFile(weightsFile);
    weights[weights.length - 1] ^= 0xff;
    await writeFile(weightsFile, weights);
    await registry.promote('guarded', 2);
    await source.settled();

    assert.equal(registry.versions('guarded').champion, 2, 'the registry recorded the promotion');
    assert.equal(served('guarded').version, 1, 'the source refused it');
    assert.deepEqual(predict(served('guarded').model), predict(good));
    const refusal = refusals.find((r) => r.name === 'guarded');
    assert.ok(refusal);
    assert.equal(refusal.version, 2);
    assert.equal((refusal.error as { code?: string }).code, 'SLUICE_MODEL_ARTIFACT_MISMATCH');
    assert.match(refusal.error.message, new RegExp(v2.artifactSha256));
    assert.equal(source.refused.get('guarded')?.version, 2);
    good.dispose();
    bad.dispose();
  });
});
