import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SluiceError } from '../../engine/errors.js';
import { RegistryClient, RegistryError } from '../../engine/registry/index.js';
import { freePort } from '../helpers/broker.js';
import { record, withRegistry } from './helpers.js';

/** A server answering every request with `status` (or never, for null); counts requests. */
async function fakeRegistry(status: number | null, payload: unknown = {}) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (status === null) return; // hang
    res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
    res.end(JSON.stringify(payload));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rejection(p: Promise<unknown>): Promise<RegistryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RegistryError, `expected a RegistryError, got ${err}`);
    assert.ok(err instanceof SluiceError);
    return err;
  }
  assert.fail('expected a rejection');
}

const v1 = record('Reading', [{ name: 'value', type: 'double' }]);
const v2 = record('Reading', [
  { name: 'value', type: 'double' },
  { name: 'unit', type: 'string', default: 'C' },
]);

describe('RegistryClient against the registry', () => {
  let env: Awaited<ReturnType<typeof withRegistry>>;
  let requests: string[];
  let client: RegistryClient;
  before(async () => {
    env = await withRegistry();
    requests = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${String(input).slice(env.url.length)}`);
      return fetch(input, init);
    };
    client = new RegistryClient({ url: env.url, fetch: counting });
  });
  after(() => env.stop());

  it('registers, looks up and reads schemas, caching immutable answers', async () => {
    assert.equal(await client.register('sensor-value', v1), 1);
    // Another formatting of the same schema: answered from the cache.
    assert.equal(await client.register('sensor-value', JSON.stringify(v1, null, 2)), 1);
    assert.deepEqual(requests, ['POST /subjects/sensor-value/versions']);

    requests.length = 0;
    assert.equal(await client.getSchemaById(1), JSON.stringify(v1));
    assert.equal(await client.getSchemaById(1), JSON.stringify(v1));
    assert.deepEqual(requests, ['GET /schemas/ids/1']);

    assert.equal(await client.register('sensor-value', v2), 2);
    assert.deepEqual(await client.lookup('sensor-value', v1), { id: 1, version: 1 });
    assert.equal(await client.lookup('sensor-value', record('Reading', [])), null);
    assert.equal(await client.lookup('no-such-subject', v1), null);
    assert.deepEqual(await client.getLatest('sensor-value'), {
      id: 2,
      version: 2,
      schema: JSON.stringify(v2),
    });
    assert.deepEqual(await client.getVersion('sensor-value', 1), {
      id: 1,
      version: 1,
      schema: JSON.stringify(v1),
    });
    assert.deepEqual(await client.listSubjects(), ['sensor-value']);
  });

  it('checks compatibility and manages config and mode', async () => {
    const required = record('Reading', [
      { name: 'value', type: 'double' },
      { name: 'unit', type: 'string' },
      { name: 'sensor', type: 'string' },
    ]);
    assert.equal(await client.checkCompatibility('sensor-value', v2), true);
    assert.equal(await client.checkCompatibility('sensor-value', required), false);
    assert.equal(await client.checkCompatibility('sensor-value', required, 1), false);
    assert.equal(await client.getConfig(), 'BACKWARD');
    assert.equal(await client.getConfig('sensor-value'), 'BACKWARD');
    assert.equal(await client.setConfig('FULL', 'sensor-value'), 'FULL');
    assert.equal(await client.getConfig('sensor-value'), 'FULL');
    assert.equal(await client.getConfig(), 'BACKWARD');
    assert.equal(await client.setMode('READONLY', 'sensor-value'), 'READONLY');
    assert.equal(await client.getMode('sensor-value'), 'READONLY');
    assert.equal(await client.getMode(), 'READWRITE');
    const readOnly = await rejection(client.register('sensor-value', record('Reading', [])));
    assert.deepEqual(
      [readOnly.code, readOnly.status, readOnly.errorCode, readOnly.retriable],
      ['SLUICE_REGISTRY_ERROR', 422, 42205, false],
    );
    assert.equal(await client.setMode('READWRITE', 'sensor-value'), 'READWRITE');
  });

  it('fails with typed errors for 404, 409 and 422', async () => {
    const notFound = await rejection(client.getSchemaById(999));
    assert.deepEqual(
      [notFound.code, notFound.status, notFound.errorCode, notFound.retriable],
      ['SLUICE_REGISTRY_NOT_FOUND', 404, 40403, false],
    );
    const noSubject = await rejection(client.getLatest('nope'));
    assert.deepEqual([noSubject.code, noSubject.errorCode], ['SLUICE_REGISTRY_NOT_FOUND', 40401]);
    const incompatible = await rejection(
      client.register('sensor-value', record('Reading', [{ name: 'x', type: 'int' }])),
    );
    assert.deepEqual(
      [incompatible.code, incompatible.status, incompatible.errorCode],
      ['SLUICE_REGISTRY_INCOMPATIBLE', 409, 409],
    );
    const invalid = await rejection(
      client.register('sensor-value', '{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}'),
    );
    assert.deepEqual(
      [invalid.code, invalid.status, invalid.errorCode],
      ['SLUICE_REGISTRY_INVALID_SCHEMA', 422, 42201],
    );
    assert.match(invalid.message, /undefined type name: nope/);
  });
});

describe('RegistryClient against a failing registry', () => {
  it('retries 5xx a bounded number of times, then fails as SLUICE_REGISTRY_UNAVAILABLE', async () => {
    const fake = await fakeRegistry(500, { error_code: 50001, message: 'Error in the backend data store' });
    try {
      const client = new RegistryClient({ url: fake.url, retries: 2, retryBackoffMs: 10 });
      const err = await rejection(client.getSchemaById(1));
      assert.deepEqual(
        [err.code, err.status, err.errorCode, err.retriable],
        ['SLUICE_REGISTRY_UNAVAILABLE', 500, 50001, true],
      );
      assert.match(err.message, /Error in the backend data store \(gave up after 3 attempts\)/);
      assert.deepEqual(fake.seen, ['GET /schemas/ids/1', 'GET /schemas/ids/1', 'GET /schemas/ids/1']);
    } finally {
      await fake.close();
    }
  });

  it('does not retry answers a retry cannot change', async () => {
    const fake = await fakeRegistry(404, { error_code: 40403, message: 'Schema 1 not found' });
    try {
      const err = await rejection(new RegistryClient({ url: fake.url, retryBackoffMs: 10 }).getSchemaById(1));
      assert.deepEqual([err.code, err.retriable], ['SLUICE_REGISTRY_NOT_FOUND', false]);
      assert.equal(fake.seen.length, 1);
    } finally {
      await fake.close();
    }
  });

  it('treats timeouts and refused connections as unavailable', async () => {
    const hanging = await fakeRegistry(null);
    try {
      const client = new RegistryClient({ url: hanging.url, timeoutMs: 100, retries: 1, retryBackoffMs: 10 });
      const err = await rejection(client.getSchemaById(1));
      assert.deepEqual([err.code, err.status, err.retriable], ['SLUICE_REGISTRY_UNAVAILABLE', 0, true]);
      assert.match(err.message, /timed out after 100 ms/);
      assert.equal(hanging.seen.length, 2);
    } finally {
      await hanging.close();
    }
    const port = await freePort();
    const refused = await rejection(
      new RegistryClient({ url: `http://127.0.0.1:${port}`, retries: 1, retryBackoffMs: 10 }).listSubjects(),
    );
    assert.deepEqual([refused.code, refused.status], ['SLUICE_REGISTRY_UNAVAILABLE', 0]);
  });
});
