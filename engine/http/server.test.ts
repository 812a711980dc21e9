import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobNotFoundError } from '../blob/index.js';
import { SluiceError } from '../errors.js';
import { createHttpServer, errorReply } from './index.js';

describe('createHttpServer', () => {
  it('answers GET /health with {status: ok}', async () => {
    const app = createHttpServer();
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
    await app.close();
  });

  it('maps errors to { error: { code, message } } with their status, never a stack', async () => {
    const app = createHttpServer({ statusByCode: { SLUICE_THING_GONE: 410 } });
    const withStatus = Object.assign(new SluiceError('SLUICE_TOO_BIG', 'too big'), { statusCode: 413 });
    app.get('/status', async () => {
      throw withStatus;
    });
    app.get('/mapped', async () => {
      throw new SluiceError('SLUICE_THING_GONE', 'gone for good');
    });
    app.get('/blob', async () => {
      throw new BlobNotFoundError('a'.repeat(64));
    });
    app.get('/retriable', async () => {
      throw new SluiceError('SLUICE_BROKER_DOWN', 'broker unavailable', { retriable: true });
    });
    app.get('/bug', async () => {
      throw new TypeError('cannot read properties of undefined (secret internals)');
    });
    app.post('/json', async (req) => req.body);
    const cases: [string, string, number, { code: string; message: string }][] = [
      ['GET', '/status', 413, { code: 'SLUICE_TOO_BIG', message: 'too big' }],
      ['GET', '/mapped', 410, { code: 'SLUICE_THING_GONE', message: 'gone for good' }],
      ['GET', '/blob', 404, { code: 'SLUICE_BLOB_NOT_FOUND', message: `no blob ${'a'.repeat(64)}` }],
      ['GET', '/retriable', 503, { code: 'SLUICE_BROKER_DOWN', message: 'broker unavailable' }],
      ['GET', '/bug', 500, { code: 'INTERNAL_ERROR', message: 'internal server error' }],
      ['GET', '/nowhere?x=1', 404, { code: 'NOT_FOUND', message: 'no route GET /nowhere' }],
    ];
    for (const [method, url, status, error] of cases) {
      const res = await app.inject({ method: method as 'GET', url });
      assert.equal(res.statusCode, status, url);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.deepEqual(res.json(), { error }, url);
      assert.doesNotMatch(res.body, /at .*\.ts:\d+/);
    }
    const bad = await app.inject({
      method: 'POST',
      url: '/json',
      headers: { 'content-type': 'application/json' },
      payload: '{"unterminated',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.code, 'FST_ERR_CTP_INVALID_JSON_BODY');
    await app.close();
  });

  it('refuses bodies over bodyLimit with 413', async () => {
    const app = createHttpServer({ bodyLimit: 100 });
    app.post('/json', async (req) => req.body);
    const res = await app.inject({
      method: 'POST',
      url: '/json',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ x: 'y'.repeat(200) }),
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, 'FST_ERR_CTP_BODY_TOO_LARGE');
    await app.close();
  });
});

describe('errorReply', () => {
  it('ignores statuses outside 4xx/5xx and non-object throws', () => {
    assert.equal(errorReply(Object.assign(new Error('x'), { statusCode: 200 })).status, 500);
    assert.deepEqual(errorReply('a string').body, {
      error: { code: 'INTERNAL_ERROR', message: 'internal server error' },
    });
    assert.equal(errorReply({ validation: [], message: 'body/x must be string' }).status, 400);
  });
});
