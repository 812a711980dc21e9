import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registryCommand } from '../../engine/registry/index.js';
import { body, http, record, VND, withRegistry } from './helpers.js';

type Env = Awaited<ReturnType<typeof withRegistry>>;

const a = record('A', [{ name: 'x', type: 'int' }]);
const aSpaced = `{ "type" : "record", "name" : "A", "doc": "the same schema",\n  "fields": [ { "name": "x", "type": "int", "doc": "x" } ] }`;
const aWithDefault = record('A', [{ name: 'x', type: 'int', default: 0 }]);
const b = record('A', [
  { name: 'x', type: 'int' },
  { name: 'y', type: ['null', 'string'], default: null },
]);

describe('ids, versions and lookups', () => {
  let env: Env;
  before(async () => {
    env = await withRegistry();
  });
  after(() => env.stop());

  it('gives ids idempotently, one id per canonical schema across subjects', async () => {
    const h = env.http;
    assert.deepEqual((await h.post('/subjects/s1/versions', body(a))).body, { id: 1 });
    assert.deepEqual((await h.post('/subjects/s1/versions', body(a))).body, { id: 1 });
    // Whitespace, key order and docs do not make a new schema.
    assert.deepEqual((await h.post('/subjects/s1/versions', { schema: aSpaced })).body, { id: 1 });
    assert.deepEqual((await h.post('/subjects/s2/versions', { schema: aSpaced })).body, { id: 1 });
    assert.deepEqual((await h.post('/subjects/s1/versions', body(b))).body, { id: 2 });
    // A default changes what readers do: a different schema.
    assert.deepEqual((await h.post('/subjects/s3/versions', body(aWithDefault))).body, { id: 3 });
    assert.deepEqual((await h.get('/subjects')).body, ['s1', 's2', 's3']);
    assert.deepEqual((await h.get('/subjects/s1/versions')).body, [1, 2]);
    assert.deepEqual((await h.get('/subjects/s2/versions')).body, [1]);
  });

  it('serves schemas by subject version and by id', async () => {
    const h = env.http;
    const stored = JSON.stringify(a);
    const latest = await h.get('/subjects/s1/versions/latest');
    assert.equal(latest.contentType, `${VND}; charset=utf-8`);
    assert.deepEqual(latest.body, { subject: 's1', version: 2, id: 2, schema: JSON.stringify(b) });
    assert.deepEqual((await h.get('/subjects/s1/versions/-1')).body.version, 2);
    assert.deepEqual((await h.get('/subjects/s2/versions/1')).body, {
      subject: 's2',
      version: 1,
      id: 1,
      schema: stored,
    });
    assert.deepEqual((await h.get('/subjects/s1/versions/1/schema')).body, a);
    assert.deepEqual((await h.get('/schemas/ids/1')).body, { schema: stored });
    assert.deepEqual((await h.get('/schemas/ids/1?subject=s2')).body, {
      subject: 's2',
      version: 1,
      schema: stored,
    });
    assert.deepEqual((await h.get('/schemas/ids/1/schema')).body, a);
    assert.deepEqual((await h.get('/schemas/ids/1/versions')).body, [
      { subject: 's1', version: 1 },
      { subject: 's2', version: 1 },
    ]);
    assert.deepEqual((await h.get('/schemas/ids/1/subjects')).body, ['s1', 's2']);
    assert.deepEqual((await h.get('/schemas/types')).body, ['AVRO']);
    assert.deepEqual((await h.get('/')).body, {});
    assert.deepEqual((await h.get('/schemas?subjectPrefix=s1&latestOnly=true')).body, [
      { subject: 's1', version: 2, id: 2, schema: JSON.stringify(b) },
    ]);
  });

  it('looks a schema up under a subject', async () => {
    const h = env.http;
    const found = await h.post('/subjects/s1', { schema: aSpaced });
    assert.deepEqual(found.body, { subject: 's1', version: 1, id: 1, schema: JSON.stringify(a) });
    const missing = await h.post('/subjects/s1', body(aWithDefault));
    assert.deepEqual(
      [missing.status, missing.body],
      [404, { error_code: 40403, message: 'Schema not found' }],
    );
    const noSubject = await h.post('/subjects/nope', body(a));
    assert.deepEqual([noSubject.status, noSubject.body.error_code], [404, 40401]);
  });

  it('accepts Confluent and plain JSON request content types', async () => {
    const h = env.http;
    for (const type of [
      VND,
      'application/vnd.schemaregistry+json',
      'application/json',
      'application/octet-stream',
    ]) {
      const res = await h.post('/subjects/s1', JSON.stringify(body(a)), type);
      assert.deepEqual([type, res.status, res.body.id], [type, 200, 1]);
    }
    const bad = await h.post('/subjects/s1', '{not json', VND);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error_code, 400);
  });
});

describe('errors', () => {
  let env: Env;
  before(async () => {
    env = await withRegistry();
    assert.equal((await env.http.post('/subjects/e/versions', body(a))).status, 200);
  });
  after(() => env.stop());

  it('answers 404 with Confluent codes', async () => {
    const h = env.http;
    const cases: [string, number, string][] = [
      ['/subjects/nope/versions', 40401, "Subject 'nope' not found."],
      ['/subjects/nope/versions/1', 40401, "Subject 'nope' not found."],
      ['/subjects/e/versions/9', 40402, 'Version 9 not found.'],
      ['/schemas/ids/99', 40403, 'Schema 99 not found'],
      ['/config/e', 40408, "Subject 'e' does not have subject-level compatibility configured"],
      ['/mode/e', 40409, "Subject 'e' does not have subject-level mode configured"],
      ['/no/such/route', 404, 'HTTP 404 Not Found'],
    ];
    for (const [path, code, message] of cases) {
      const res = await h.get(path);
      assert.deepEqual([path, res.status, res.body], [path, 404, { error_code: code, message }]);
    }
  });

  it('answers 42202 for versions that are not versions', async () => {
    for (const v of ['0', 'abc', '2147483648', '-2']) {
      const res = await env.http.get(`/subjects/e/versions/${v}`);
      assert.deepEqual([v, res.status, res.body.error_code], [v, 422, 42202]);
    }
  });

  it('answers 42201 for invalid schemas, with the parser message', async () => {
    const h = env.http;
    const cases: [unknown, string][] = [
      [
        { schema: '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}' },
        'Invalid schema: undefined type name: nope',
      ],
      [
        { schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"int","default":"x"}]}' },
        'Invalid schema: incompatible field default "x" (invalid "int": "x")',
      ],
      [{ schema: '{"type": "record"' }, 'Invalid schema: not JSON'],
      [
        { schema: 'syntax = "proto3"; message M {}', schemaType: 'PROTOBUF' },
        'Invalid schema type PROTOBUF: this registry supports only AVRO schemas',
      ],
      [
        { schema: '{"type":"object"}', schemaType: 'JSON' },
        'Invalid schema type JSON: this registry supports only AVRO schemas',
      ],
      [
        { schema: JSON.stringify(a), references: [{ name: 'B', subject: 'b', version: 1 }] },
        'Schema references are not supported by this registry',
      ],
      [{}, 'Empty schema'],
    ];
    for (const [request, message] of cases) {
      const res = await h.post('/subjects/e/versions', request);
      assert.equal(res.status, 422, message);
      assert.equal(res.body.error_code, 42201, message);
      assert.ok(res.body.message.startsWith(message), `${res.body.message} should start with ${message}`);
    }
    const lookup = await h.post('/subjects/e', { schema: '{"type":"nope"}' });
    assert.deepEqual([lookup.status, lookup.body.error_code], [422, 42201]);
    assert.deepEqual((await h.get('/subjects/e/versions')).body, [1]);
  });
});

describe('soft and hard deletes', () => {
  let env: Env;
  const x = record('D', [{ name: 'x', type: 'int' }]);
  const y = record('D', [{ name: 'y', type: 'int' }]);
  const z = record('D', [{ name: 'z', type: 'int' }]);
  before(async () => {
    env = await withRegistry();
    const h = env.http;
    await h.put('/config/d', { compatibility: 'NONE' });
    for (const s of [x, y, z]) assert.equal((await h.post('/subjects/d/versions', body(s))).status, 200);
  });
  after(() => env.stop());

  it('soft-deletes a version, keeping its id readable', async () => {
    const h = env.http;
    assert.deepEqual((await h.del('/subjects/d/versions/2')).body, 2);
    assert.deepEqual((await h.get('/subjects/d/versions')).body, [1, 3]);
    assert.deepEqual((await h.get('/subjects/d/versions?deleted=true')).body, [1, 2, 3]);
    assert.deepEqual((await h.get('/subjects/d/versions/2')).body.error_code, 40402);
    assert.deepEqual((await h.get('/subjects/d/versions/2?deleted=true')).body.id, 2);
    assert.deepEqual((await h.get('/schemas/ids/2')).body, { schema: JSON.stringify(y) });
    const again = await h.del('/subjects/d/versions/2');
    assert.deepEqual([again.status, again.body.error_code], [404, 40406]);
  });

  it('hard-deletes only soft-deleted versions', async () => {
    const h = env.http;
    const live = await h.del('/subjects/d/versions/3?permanent=true');
    assert.deepEqual([live.status, live.body.error_code], [404, 40407]);
    assert.deepEqual((await h.del('/subjects/d/versions/2?permanent=true')).body, 2);
    assert.deepEqual((await h.get('/subjects/d/versions?deleted=true')).body, [1, 3]);
    assert.deepEqual((await h.get('/schemas/ids/2')).body.error_code, 40403);
    assert.deepEqual((await h.del('/subjects/d/versions/2')).body.error_code, 40402);
    assert.deepEqual((await h.del('/subjects/d/versions/latest')).body, 3);
  });

  it('soft-deletes a subject and lists it only with ?deleted=true', async () => {
    const h = env.http;
    const notSoft = await h.del('/subjects/d?permanent=true');
    assert.deepEqual([notSoft.status, notSoft.body.error_code], [404, 40405]);
    assert.deepEqual((await h.del('/subjects/d')).body, [1]);
    assert.deepEqual((await h.get('/subjects')).body, []);
    assert.deepEqual((await h.get('/subjects?deleted=true')).body, ['d']);
    assert.deepEqual((await h.get('/subjects/d/versions')).body.error_code, 40401);
    assert.deepEqual((await h.get('/subjects/d/versions?deleted=true')).body, [1, 3]);
    const twice = await h.del('/subjects/d');
    assert.deepEqual([twice.status, twice.body.error_code], [404, 40404]);
    assert.deepEqual((await h.post('/subjects/d', body(x))).body.error_code, 40401);
    assert.deepEqual((await h.post('/subjects/d?deleted=true', body(x))).body.version, 1);
  });

  it('re-registering continues the versions and drops the soft-deleted copy, as Confluent does', async () => {
    const h = env.http;
    assert.deepEqual((await h.post('/subjects/d/versions', body(x))).body, { id: 1 });
    assert.deepEqual((await h.get('/subjects/d/versions')).body, [4]);
    assert.deepEqual((await h.get('/subjects/d/versions?deleted=true')).body, [3, 4]);
  });

  it('permanently deletes a soft-deleted subject with its config, then starts again at version 1', async () => {
    const h = env.http;
    assert.deepEqual((await h.del('/subjects/d')).body, [4]);
    assert.deepEqual((await h.del('/subjects/d?permanent=true')).body, [3, 4]);
    assert.deepEqual((await h.get('/subjects?deleted=true')).body, []);
    assert.deepEqual((await h.get('/subjects/d/versions?deleted=true')).body.error_code, 40401);
    assert.deepEqual((await h.get('/config/d')).body.error_code, 40408);
    assert.deepEqual((await h.del('/subjects/d')).body.error_code, 40401);
    // z's id 3 went with it; ids are not handed out twice by a running registry.
    assert.deepEqual((await h.post('/subjects/d/versions', body(z))).body, { id: 4 });
    assert.deepEqual((await h.get('/subjects/d/versions')).body, [1]);
  });
});

describe('config and mode', () => {
  let env: Env;
  before(async () => {
    env = await withRegistry();
  });
  after(() => env.stop());

  it('reads and writes compatibility levels, globally and per subject', async () => {
    const h = env.http;
    assert.deepEqual((await h.get('/config')).body, { compatibilityLevel: 'BACKWARD' });
    assert.deepEqual((await h.put('/config', { compatibility: 'full' })).body, { compatibility: 'FULL' });
    assert.deepEqual((await h.get('/config')).body, { compatibilityLevel: 'FULL' });
    const invalid = await h.put('/config', { compatibility: 'SIDEWAYS' });
    assert.deepEqual([invalid.status, invalid.body.error_code], [422, 42203]);
    assert.deepEqual((await h.get('/config/c')).body.error_code, 40408);
    assert.deepEqual((await h.get('/config/c?defaultToGlobal=true')).body, { compatibilityLevel: 'FULL' });
    assert.deepEqual((await h.put('/config/c', { compatibility: 'NONE' })).body, { compatibility: 'NONE' });
    assert.deepEqual((await h.get('/config/c')).body, { compatibilityLevel: 'NONE' });
    assert.deepEqual((await h.del('/config/c')).body, { compatibilityLevel: 'NONE' });
    assert.deepEqual((await h.del('/config/c')).body.error_code, 40401);
    assert.deepEqual((await h.del('/config')).body, { compatibilityLevel: 'FULL' });
    assert.deepEqual((await h.get('/config')).body, { compatibilityLevel: 'BACKWARD' });
  });

  it('READONLY refuses writes with 42205; subject modes override the global one', async () => {
    const h = env.http;
    assert.equal((await h.post('/subjects/ro/versions', body(a))).status, 200);
    assert.deepEqual((await h.get('/mode')).body, { mode: 'READWRITE' });
    assert.deepEqual((await h.put('/mode/ro', { mode: 'READONLY' })).body, { mode: 'READONLY' });
    assert.deepEqual((await h.get('/mode/ro')).body, { mode: 'READONLY' });
    for (const res of [
      await h.post('/subjects/ro/versions', body(b)),
      await h.del('/subjects/ro/versions/1'),
      await h.del('/subjects/ro'),
      await h.put('/config/ro', { compatibility: 'NONE' }),
    ]) {
      assert.deepEqual([res.status, res.body.error_code], [422, 42205]);
    }
    assert.equal((await h.post('/subjects/rw/versions', body(a))).status, 200);
    assert.deepEqual((await h.put('/mode', { mode: 'READONLY' })).body, { mode: 'READONLY' });
    assert.deepEqual((await h.post('/subjects/rw/versions', body(b))).body.error_code, 42205);
    assert.deepEqual((await h.put('/mode/rw', { mode: 'READWRITE' })).body, { mode: 'READWRITE' });
    assert.deepEqual((await h.post('/subjects/rw/versions', body(b))).body, { id: 2 });
    assert.deepEqual((await h.get('/mode/other?defaultToGlobal=true')).body, { mode: 'READONLY' });
    assert.deepEqual((await h.put('/mode', { mode: 'SOMETIMES' })).body.error_code, 42204);
    assert.deepEqual((await h.del('/mode')).body, { mode: 'READONLY' });
    assert.deepEqual((await h.del('/mode/ro')).body, { mode: 'READONLY' });
    assert.deepEqual((await h.del('/mode/ro')).body.error_code, 40401);
    assert.deepEqual((await h.get('/mode')).body, { mode: 'READWRITE' });
    assert.deepEqual((await h.get('/subjects/ro/versions')).body, [1]);
  });

  it('IMPORT mode takes explicit ids and versions, only in an empty scope', async () => {
    const h = env.http;
    const busy = await h.put('/mode', { mode: 'IMPORT' });
    assert.deepEqual(
      [busy.status, busy.body],
      [422, { error_code: 42205, message: 'Cannot import since found existing subjects' }],
    );
    assert.deepEqual((await h.put('/mode/imp', { mode: 'IMPORT' })).body, { mode: 'IMPORT' });
    const imported = {
      schema: JSON.stringify(record('Imp', [{ name: 'i', type: 'long' }])),
      id: 100,
      version: 5,
    };
    assert.deepEqual((await h.post('/subjects/imp/versions', imported)).body, { id: 100 });
    assert.deepEqual((await h.post('/subjects/imp/versions', imported)).body, { id: 100 });
    assert.deepEqual((await h.get('/subjects/imp/versions')).body, [5]);
    assert.deepEqual((await h.get('/schemas/ids/100')).body, { schema: imported.schema });
    const clash = await h.post('/subjects/imp/versions', { schema: JSON.stringify(a), id: 100, version: 6 });
    assert.deepEqual(clash.body, {
      error_code: 42205,
      message: 'Overwrite new schema with id 100 in context . is not permitted.',
    });
    const noId = await h.post('/subjects/imp/versions', body(a));
    assert.deepEqual(noId.body, {
      error_code: 42205,
      message: 'Subject imp in context . is not in read-write mode',
    });
    const notImport = await h.post('/subjects/rw/versions', { schema: JSON.stringify(a), id: 7 });
    assert.deepEqual(notImport.body, {
      error_code: 42205,
      message: 'Subject rw in context . is not in import mode',
    });
    // Leaving IMPORT: new ids continue above the imported ones, versions after the imported one.
    assert.deepEqual((await h.put('/mode/imp', { mode: 'READWRITE' })).body, { mode: 'READWRITE' });
    await h.put('/config/imp', { compatibility: 'NONE' });
    assert.deepEqual((await h.post('/subjects/imp/versions', body(record('Imp', [])))).body, { id: 101 });
    assert.deepEqual((await h.get('/subjects/imp/versions')).body, [5, 6]);
    const again = await h.put('/mode/imp', { mode: 'IMPORT' });
    assert.deepEqual(again.body.error_code, 42205);
    assert.deepEqual((await h.put('/mode/imp?force=true', { mode: 'IMPORT' })).body, { mode: 'IMPORT' });
  });
});

describe('sluice registry command', () => {
  it('prints its listening line and serves', async () => {
    const env = await withRegistry();
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    let registry: Awaited<ReturnType<typeof registryCommand>> | undefined;
    try {
      registry = await registryCommand(['--listen', '127.0.0.1:0', '--bootstrap-server', env.env.bootstrap], {
        exitOnSignal: false,
      });
    } finally {
      process.stdout.write = write;
    }
    try {
      assert.deepEqual(out, [`sluice registry listening on http://127.0.0.1:${registry.port}\n`]);
      assert.deepEqual((await http(registry.url).get('/subjects')).body, []);
    } finally {
      await registry.close();
      await env.stop();
    }
  });
});
