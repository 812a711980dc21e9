import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { record, withRegistry } from './helpers.js';

/** The real Confluent client (@kafkajs/confluent-schema-registry) against the embedded registry. */
describe('@kafkajs/confluent-schema-registry against the Sluice registry', () => {
  let env: Awaited<ReturnType<typeof withRegistry>>;
  const subject = 'sluice.upload.received-value';
  const v1 = record('UploadReceived', [
    { name: 'uploadId', type: 'string' },
    { name: 'bytes', type: 'long' },
  ]);
  const v2 = record('UploadReceived', [
    { name: 'uploadId', type: 'string' },
    { name: 'bytes', type: 'long' },
    { name: 'contentType', type: ['null', 'string'], default: null },
  ]);

  before(async () => {
    env = await withRegistry();
  });
  after(() => env.stop());

  it('registers, encodes and decodes through the registry', async () => {
    const client = new SchemaRegistry({ host: env.url });
    const first = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    assert.deepEqual(first, { id: 1 });
    // The client sets the subject's compatibility on first registration and checks it afterwards.
    assert.deepEqual((await env.http.get(`/config/${subject}`)).body, { compatibilityLevel: 'BACKWARD' });
    const again = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v1) }, { subject });
    assert.deepEqual(again, { id: 1 });

    const payload = { uploadId: 'u-1', bytes: 4096 };
    const encoded = await client.encode(1, payload);
    assert.equal(encoded[0], 0);
    assert.equal(encoded.readInt32BE(1), 1);
    // A fresh client has no cache: it must fetch schema 1 from the registry to decode.
    const fresh = new SchemaRegistry({ host: env.url });
    assert.deepEqual({ ...(await fresh.decode(encoded)) }, payload);
  });

  it('evolves the subject and answers getLatestSchemaId / getRegistryIdBySchema', async () => {
    const client = new SchemaRegistry({ host: env.url });
    const second = await client.register({ type: SchemaType.AVRO, schema: JSON.stringify(v2) }, { subject });
    assert.deepEqual(second, { id: 2 });
    assert.equal(await client.getLatestSchemaId(subject), 2);
    assert.equal(
      await client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(v1) }),
      1,
    );
    assert.equal(
      await client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(v2) }),
      2,
    );

    const encoded = await client.encode(2, { uploadId: 'u-2', bytes: 1, contentType: 'image/png' });
    const fresh = new SchemaRegistry({ host: env.url });
    assert.deepEqual(
      { ...(await fresh.decode(encoded)) },
      { uploadId: 'u-2', bytes: 1, contentType: 'image/png' },
    );
    assert.deepEqual((await env.http.get(`/subjects/${subject}/versions`)).body, [1, 2]);
  });

  it('shares ids across subjects and reports unknown schemas and incompatible ones', async () => {
    const client = new SchemaRegistry({ host: env.url });
    const other = await client.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject: 'sluice.upload.archived-value' },
    );
    assert.deepEqual(other, { id: 1 });

    const unknown = record('UploadReceived', [{ name: 'other', type: 'int' }]);
    await assert.rejects(
      client.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(unknown) }),
      (err: Error) => err.name === 'ConfluentSchemaRegistryError' && /Schema not found/.test(err.message),
    );
    // A required field with no default: new readers cannot read old data.
    const incompatible = record('UploadReceived', [
      { name: 'uploadId', type: 'string' },
      { name: 'bytes', type: 'long' },
      { name: 'sha256', type: 'string' },
    ]);
    await assert.rejects(
      client.register({ type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject }),
      (err: Error & { status?: number }) => err.status === 409 && /incompatible/.test(err.message),
    );
    assert.equal(await client.getLatestSchemaId(subject), 2);
  });
});
