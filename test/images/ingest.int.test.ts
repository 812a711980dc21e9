import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Consumer, Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import sharp from 'sharp';
import { LocalBlobStore } from '../../engine/blob/index.js';
import { AvroDeserializer } from '../../engine/codec/index.js';
import { createHttpServer } from '../../engine/http/index.js';
import { RegistryClient } from '../../engine/registry/index.js';
import type { DeadLetterRecorded, LabelAssigned, UploadReceived } from '../../schemas/generated/events.js';
import { ImageIngest, LABELS_TOPIC, UPLOADS_TOPIC } from '../../topologies/images/ingest.js';
import { type IngestMetrics, ingestMetrics } from '../../topologies/images/ingestMetrics.js';
import { registerImageRoutes } from '../../topologies/images/routes.js';
import { kafkaClient, tempDir } from '../helpers/broker.js';
import { sluice } from '../helpers/cli.js';
import { noiseJpeg, pngBomb, solidJpeg, solidPng, truncated } from '../helpers/images.js';
import { withPlatform } from '../helpers/platform.js';
import { withAdmin } from '../helpers/readAll.js';

const DLQ_TOPIC = `${UPLOADS_TOPIC}.dlq`;
const TOPICS = [UPLOADS_TOPIC, LABELS_TOPIC, DLQ_TOPIC];
const MAX_FILE_BYTES = 64 * 1024;

/** The API's answers: uploads on success, an error otherwise. */
interface ApiBody {
  uploads: {
    uploadId: string;
    subjectId: string;
    sha256: string;
    sizeBytes: number;
    contentType: string;
    deduplicated: boolean;
  }[];
  error: { code: string; message: string };
}

interface Seen<T> {
  key: string;
  value: T;
  headers: Record<string, string>;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** One consumer for the whole file: every committed record of the three topics, decoded, as it arrives. */
async function collect(kafka: Kafka, registry: RegistryClient) {
  const decoder = new AvroDeserializer(registry);
  const seen = {
    uploads: [] as Seen<UploadReceived>[],
    labels: [] as Seen<LabelAssigned>[],
    deadLetters: [] as Seen<DeadLetterRecorded>[],
  };
  const into = { [UPLOADS_TOPIC]: seen.uploads, [LABELS_TOPIC]: seen.labels, [DLQ_TOPIC]: seen.deadLetters };
  const consumer: Consumer = kafka.consumer({ groupId: `ingest-test-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topics: TOPICS, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      (into[topic as keyof typeof into] as Seen<unknown>[]).push({
        key: String(message.key),
        value: await decoder.decode(message.value!),
        headers,
      });
    },
  });
  return { seen, stop: () => consumer.disconnect() };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const counter = async (m: IngestMetrics, which: keyof IngestMetrics, labels: Record<string, string>) =>
  (await m[which].get()).values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((a, v) => a + v.value, 0);

describe('image ingest: POST /v1/uploads and sluice import images', () => {
  let platform: Awaited<ReturnType<typeof withPlatform>>;
  let kafka: Kafka;
  let registry: RegistryClient;
  let ingest: ImageIngest;
  let app: FastifyInstance;
  let url: string;
  let collector: Awaited<ReturnType<typeof collect>>;
  let metrics: IngestMetrics;
  const dir = tempDir('sluice-ingest-');
  const blobDir = join(dir.path, 'blobs');
  const blobs = new LocalBlobStore(blobDir);

  before(async () => {
    platform = await withPlatform();
    kafka = kafkaClient(platform.bootstrap);
    registry = new RegistryClient({ url: platform.registryUrl });
    await withAdmin(kafka, (admin) =>
      admin.createTopics({
        topics: TOPICS.map((topic) => ({ topic, numPartitions: 3 })),
        waitForLeaders: true,
      }),
    );
    metrics = ingestMetrics(new Registry());
    ingest = await ImageIngest.start({
      kafka,
      registry,
      blobs,
      limits: { maxFileBytes: MAX_FILE_BYTES },
      metrics,
    });
    app = createHttpServer();
    await registerImageRoutes(app, ingest);
    url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/uploads`;
    collector = await collect(kafka, registry);
  });

  after(async () => {
    await collector?.stop();
    await app?.close();
    await ingest?.close();
    await platform?.stop();
    dir.remove();
  });

  /** High watermarks of the three topics and the number of stored blobs: what "nothing written" compares. */
  async function written(): Promise<{ offsets: Record<string, number>; blobs: number }> {
    const offsets: Record<string, number> = {};
    await withAdmin(kafka, async (admin) => {
      for (const t of TOPICS) {
        offsets[t] = (await admin.fetchTopicOffsets(t)).reduce((a, p) => a + Number(p.high), 0);
      }
    });
    const count = (d: string): number =>
      readdirSync(d, { withFileTypes: true }).reduce(
        (n, e) => n + (e.isDirectory() ? count(join(d, e.name)) : 1),
        0,
      );
    return {
      offsets,
      blobs: (() => {
        try {
          return count(blobDir);
        } catch {
          return 0;
        }
      })(),
    };
  }

  async function post(
    parts: [string, Buffer | string, string?][],
  ): Promise<{ status: number; body: ApiBody }> {
    const form = new FormData();
    for (const [name, value, filename] of parts) {
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, new Blob([new Uint8Array(value)]), filename ?? 'file');
    }
    const res = await fetch(url, { method: 'POST', body: form });
    return { status: res.status, body: (await res.json()) as ApiBody };
  }

  it('stores a multi-file labelled upload and records UploadReceived and LabelAssigned for each file', async () => {
    const jpeg = await solidJpeg(40, 30, { r: 200, g: 10, b: 10 });
    const png = await solidPng(20, 10, { r: 10, g: 200, b: 10 });
    const before = Date.now();
    const res = await post([
      ['label', 'cat'],
      ['file', jpeg, 'tabby.jpg'],
      ['file', png, 'ginger.png'],
      ['source', 'camera-7'],
    ]);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const { uploads } = res.body;
    assert.equal(uploads.length, 2);
    assert.deepEqual(
      uploads.map(({ uploadId: _, subjectId: __, ...rest }) => rest),
      [
        { sha256: sha(jpeg), sizeBytes: jpeg.length, contentType: 'image/jpeg', deduplicated: false },
        { sha256: sha(png), sizeBytes: png.length, contentType: 'image/png', deduplicated: false },
      ],
    );
    for (const u of uploads) assert.equal(u.subjectId, u.uploadId);
    assert.deepEqual(await blobs.get(sha(jpeg)), jpeg);
    assert.deepEqual(await blobs.get(sha(png)), png);

    await until(
      '2 uploads and 2 labels',
      () => collector.seen.uploads.length >= 2 && collector.seen.labels.length >= 2,
    );
    const events = collector.seen.uploads
      .slice(0, 2)
      .sort((a, b) => (a.value.filename! < b.value.filename! ? -1 : 1));
    const [ginger, tabby] = events;
    assert.deepEqual(
      { ...tabby.value, occurredAt: 0 },
      {
        uploadId: uploads[0].uploadId,
        subjectId: uploads[0].subjectId,
        sha256: sha(jpeg),
        contentType: 'image/jpeg',
        sizeBytes: jpeg.length,
        blobUri: blobs.uriOf(sha(jpeg)),
        filename: 'tabby.jpg',
        uploader: null,
        channel: 'HTTP',
        metadata: { source: 'camera-7' },
        occurredAt: 0,
      },
    );
    assert.equal(ginger.value.uploadId, uploads[1].uploadId);
    assert.equal(ginger.value.blobUri, blobs.uriOf(sha(png)));
    assert.ok(tabby.value.occurredAt >= before && tabby.value.occurredAt <= Date.now());
    assert.equal(tabby.key, tabby.value.subjectId);
    assert.equal(tabby.headers['sluice.event-type'], 'sluice.ingest.UploadReceived');
    assert.equal(tabby.headers['sluice.schema-subject'], 'ingest.upload.received-value');

    const labels = collector.seen.labels.slice(0, 2);
    assert.deepEqual(
      labels.map((l) => ({ ...l.value, occurredAt: 0 })).sort((a, b) => (a.subjectId < b.subjectId ? -1 : 1)),
      uploads
        .map((u) => ({
          subjectId: u.subjectId,
          label: 'cat',
          uploadId: u.uploadId,
          labeler: null,
          source: 'ANNOTATOR',
          confidence: null,
          occurredAt: 0,
        }))
        .sort((a, b) => (a.subjectId! < b.subjectId! ? -1 : 1)),
    );
    const labelOfTabby = labels.find((l) => l.value.uploadId === tabby.value.uploadId)!;
    assert.equal(labelOfTabby.key, tabby.value.subjectId);
    assert.equal(labelOfTabby.headers['sluice.causation-id'], tabby.headers['sluice.event-id']);
    assert.equal(labelOfTabby.headers['sluice.correlation-id'], tabby.headers['sluice.correlation-id']);
    assert.equal(labelOfTabby.value.occurredAt, tabby.value.occurredAt);
    assert.equal(await counter(metrics, 'uploads', { channel: 'HTTP', deduplicated: 'false' }), 2);
  });

  it('stores the same bytes once: a second upload is deduplicated but still an upload of its own', async () => {
    const jpeg = await solidJpeg(33, 33, { r: 1, g: 2, b: 250 });
    const start = await written();
    const first = await post([['file', jpeg, 'a.jpg']]);
    const second = await post([
      ['subjectId', 'subject-42'],
      ['file', jpeg, 'b.jpg'],
    ]);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(first.body.uploads[0].deduplicated, false);
    assert.equal(second.body.uploads[0].deduplicated, true);
    assert.equal(second.body.uploads[0].subjectId, 'subject-42');
    assert.notEqual(first.body.uploads[0].uploadId, second.body.uploads[0].uploadId);
    const end = await written();
    assert.equal(end.blobs, start.blobs + 1);
    assert.equal(end.offsets[LABELS_TOPIC], start.offsets[LABELS_TOPIC]);
    const ids = [first.body.uploads[0].uploadId, second.body.uploads[0].uploadId];
    await until('both uploads', () =>
      ids.every((id) => collector.seen.uploads.some((u) => u.value.uploadId === id)),
    );
    const events = ids.map((id) => collector.seen.uploads.find((u) => u.value.uploadId === id)!);
    assert.deepEqual(
      events.map((e) => [e.key, e.value.sha256, e.value.blobUri]),
      [
        [ids[0], sha(jpeg), blobs.uriOf(sha(jpeg))],
        ['subject-42', sha(jpeg), blobs.uriOf(sha(jpeg))],
      ],
    );
  });

  it('refuses an oversized file with 413 and writes nothing', async () => {
    const big = await noiseJpeg(512, 256);
    assert.ok(big.length > MAX_FILE_BYTES);
    const start = await written();
    const res = await post([
      ['label', 'dog'],
      ['file', big, 'huge.jpg'],
    ]);
    assert.equal(res.status, 413);
    assert.deepEqual(res.body, {
      error: {
        code: 'SLUICE_INGEST_FILE_TOO_LARGE',
        message: `file 1 is over the limit of ${MAX_FILE_BYTES} bytes`,
      },
    });
    assert.deepEqual(await written(), start);
    assert.equal(await blobs.has(sha(big)), false);
  });

  it('refuses a text file with 415 and writes nothing', async () => {
    const start = await written();
    const res = await post([['file', Buffer.from('just some notes\n'), 'notes.txt']]);
    assert.equal(res.status, 415);
    assert.equal(res.body.error.code, 'SLUICE_INGEST_NOT_AN_IMAGE');
    assert.match(res.body.error.message, /^file "notes.txt": file is not an image/);
    assert.deepEqual(await written(), start);
  });

  it('refuses a truncated JPEG with 400 and dead-letters it with the reason and its bytes, nothing else', async () => {
    const broken = truncated(await noiseJpeg(96, 64, 5));
    const start = await written();
    const before = collector.seen.deadLetters.length;
    const res = await post([
      ['label', 'cat'],
      ['file', broken, 'broken.jpg'],
    ]);
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'SLUICE_INGEST_CORRUPT_IMAGE');
    assert.match(
      res.body.error.message,
      /^file "broken.jpg": image cannot be decoded: .*premature end of JPEG/i,
    );
    const end = await written();
    assert.deepEqual(end, {
      blobs: start.blobs,
      offsets: { ...start.offsets, [DLQ_TOPIC]: end.offsets[DLQ_TOPIC] },
    });
    assert.ok(end.offsets[DLQ_TOPIC] > start.offsets[DLQ_TOPIC]);
    await until('the dead letter', () => collector.seen.deadLetters.length > before);
    const dl = collector.seen.deadLetters[before];
    assert.equal(dl.key, UPLOADS_TOPIC);
    assert.equal(dl.headers['sluice.event-type'], 'sluice.platform.DeadLetterRecorded');
    assert.equal(dl.value.sourceTopic, UPLOADS_TOPIC);
    assert.equal(dl.value.stage, 'VALIDATE');
    assert.equal(dl.value.errorCode, 'SLUICE_INGEST_CORRUPT_IMAGE');
    assert.equal(dl.value.message, res.body.error.message);
    assert.deepEqual(dl.value.originalValue, broken);
    const h = Object.fromEntries(dl.value.originalHeaders.map((x) => [x.key, x.value?.toString()]));
    assert.equal(h['sluice.ingest.filename'], 'broken.jpg');
    assert.equal(h['sluice.ingest.label'], 'cat');
    assert.equal(h['sluice.ingest.sha256'], sha(broken));
    assert.equal(await counter(metrics, 'deadLetters', { channel: 'HTTP', reason: 'corrupt' }), 1);
    assert.equal(await counter(metrics, 'rejected', { channel: 'HTTP', reason: 'corrupt' }), 1);
  });

  it('refuses a decompression bomb (a 74-byte PNG claiming 30000x30000) with 413 before decoding', async () => {
    const bomb = pngBomb(30_000, 30_000);
    const start = await written();
    const t0 = performance.now();
    const res = await post([['file', bomb, 'bomb.png']]);
    const ms = performance.now() - t0;
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'SLUICE_INGEST_TOO_MANY_PIXELS');
    assert.match(res.body.error.message, /over the limit of 40000000 pixels .*refused before decoding/);
    assert.ok(ms < 1000, `${ms} ms`);
    assert.deepEqual(await written(), start);
  });

  it('writes nothing for a request mixing a good file and a bad one', async () => {
    const good = await solidJpeg(21, 21, { r: 77, g: 66, b: 55 });
    const start = await written();
    const res = await post([
      ['label', 'cat'],
      ['file', good, 'good.jpg'],
      ['file', Buffer.from('%PDF-1.4 not an image'), 'bad.pdf'],
    ]);
    assert.equal(res.status, 415);
    assert.match(res.body.error.message, /^file "bad.pdf"/);
    assert.deepEqual(await written(), start);
    assert.equal(await blobs.has(sha(good)), false);
  });

  it('answers 400 when no file is uploaded, and for unknown fields', async () => {
    const start = await written();
    const none = await post([['label', 'cat']]);
    assert.equal(none.status, 400);
    assert.deepEqual(none.body, { error: { code: 'SLUICE_INGEST_NO_FILE', message: 'no file uploaded' } });
    const typo = await post([
      ['lable', 'cat'],
      ['file', await solidJpeg(8, 8, { r: 0, g: 0, b: 0 })],
    ]);
    assert.equal(typo.status, 400);
    assert.equal(typo.body.error.code, 'SLUICE_INGEST_INVALID_FIELD');
    const json = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(json.status, 415);
    assert.equal((await json.json()).error.code, 'SLUICE_INGEST_NOT_MULTIPART');
    assert.deepEqual(await written(), start);
  });

  it('sluice import images: labels from directories, dead-letters a corrupt file and goes on', async () => {
    const tree = join(dir.path, 'photos');
    mkdirSync(join(tree, 'cats'), { recursive: true });
    mkdirSync(join(tree, 'dogs', 'puppies'), { recursive: true });
    const files: Record<string, Buffer> = {
      'cats/a.jpg': await solidJpeg(30, 20, { r: 250, g: 250, b: 0 }),
      'cats/b.PNG': await solidPng(12, 12, { r: 0, g: 250, b: 250 }),
      'dogs/c.jpeg': await solidJpeg(18, 18, { r: 250, g: 0, b: 250 }),
      'dogs/puppies/d.webp': await sharp({
        create: { width: 9, height: 9, channels: 3, background: 'white' },
      })
        .webp()
        .toBuffer(),
      'dogs/broken.jpg': truncated(await noiseJpeg(64, 64, 9)),
      'dogs/readme.txt': Buffer.from('not an image, skipped by extension'),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(tree, name), bytes);
    const uploadsBefore = collector.seen.uploads.length;
    const deadBefore = collector.seen.deadLetters.length;
    const env = { KAFKA_BROKERS: platform.bootstrap, SCHEMA_REGISTRY_URL: platform.registryUrl };
    const run = await sluice(['import', 'images', tree, '--label-from-dir', '--blob-dir', blobDir], { env });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stdout, /^found: 5 image file\(s\) under /m);
    assert.match(run.stdout, /^imported: 4 \(deduplicated: 0\)$/m);
    assert.match(run.stdout, /^rejected: 1 \(corrupt: 1\)$/m);
    await until(
      '4 imported uploads and a dead letter',
      () =>
        collector.seen.uploads.length >= uploadsBefore + 4 && collector.seen.deadLetters.length > deadBefore,
    );
    const imported = collector.seen.uploads.slice(uploadsBefore);
    assert.deepEqual(
      imported.map((u) => [u.value.filename, u.value.channel, u.value.sha256, u.value.metadata]).sort(),
      ['cats/a.jpg', 'cats/b.PNG', 'dogs/c.jpeg', 'dogs/puppies/d.webp'].map((f) => [
        f,
        'IMPORT',
        sha(files[f]),
        { source: 'import' },
      ]),
    );
    for (const u of imported) assert.deepEqual(await blobs.get(u.value.sha256), files[u.value.filename!]);
    await until('4 labels', () =>
      imported.every((u) => collector.seen.labels.some((l) => l.value.uploadId === u.value.uploadId)),
    );
    const labelOf = (f: string) => {
      const u = imported.find((x) => x.value.filename === f)!;
      return collector.seen.labels.find((l) => l.value.uploadId === u.value.uploadId)!.value;
    };
    assert.deepEqual(
      ['cats/a.jpg', 'cats/b.PNG', 'dogs/c.jpeg', 'dogs/puppies/d.webp'].map((f) => [
        labelOf(f).label,
        labelOf(f).source,
      ]),
      [
        ['cats', 'IMPORT'],
        ['cats', 'IMPORT'],
        ['dogs', 'IMPORT'],
        ['puppies', 'IMPORT'],
      ],
    );
    const dl = collector.seen.deadLetters.slice(deadBefore);
    assert.equal(dl.length, 1);
    assert.equal(dl[0].value.errorCode, 'SLUICE_INGEST_CORRUPT_IMAGE');
    assert.deepEqual(dl[0].value.originalValue, files['dogs/broken.jpg']);
    const h = Object.fromEntries(dl[0].value.originalHeaders.map((x) => [x.key, x.value?.toString()]));
    assert.deepEqual(
      [h['sluice.ingest.filename'], h['sluice.ingest.label'], h['sluice.ingest.channel']],
      ['dogs/broken.jpg', 'dogs', 'IMPORT'],
    );

    // Again, the first two files only: stored already, so deduplicated; imported again as uploads.
    const again = await sluice(['import', 'images', tree, '--limit', '2', '--blob-dir', blobDir], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^imported: 2 \(deduplicated: 2\)$/m);
    assert.match(again.stdout, /^rejected: 0$/m);
  });
});
