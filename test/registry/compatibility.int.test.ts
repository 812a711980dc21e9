import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { body, record, withRegistry } from './helpers.js';

/**
 * Compatibility matrix: each schema change under each level, through the HTTP API, with the
 * verdicts worked out from Avro's resolution rules (BACKWARD: the new schema reads the old
 * data; FORWARD: the old schema reads the new data; FULL: both; TRANSITIVE: against every
 * earlier version; NONE: always).
 */

const LEVELS = [
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
  'NONE',
] as const;

const T = true;
const F = false;

const user = (fields: unknown[]) => record('User', fields);
const id = { name: 'id', type: 'string' };
const color = (symbols: string[], withDefault: boolean) => ({
  name: 'color',
  type: { type: 'enum', name: 'Color', symbols, ...(withDefault ? { default: 'UNKNOWN' } : {}) },
});

interface Change {
  name: string;
  /** Earlier versions, oldest first; the last one is the latest. */
  history: unknown[];
  next: unknown;
  /** Verdicts in LEVELS order. */
  verdicts: [boolean, boolean, boolean, boolean, boolean, boolean, boolean];
}

const changes: Change[] = [
  {
    name: 'add an optional field (with a default)',
    history: [user([id])],
    next: user([id, { name: 'email', type: ['null', 'string'], default: null }]),
    verdicts: [T, T, T, T, T, T, T],
  },
  {
    name: 'add a required field (no default)',
    history: [user([id])],
    next: user([id, { name: 'email', type: 'string' }]),
    verdicts: [F, F, T, T, F, F, T],
  },
  {
    name: 'remove a field that has a default',
    history: [user([id, { name: 'age', type: 'int', default: 0 }])],
    next: user([id]),
    verdicts: [T, T, T, T, T, T, T],
  },
  {
    name: 'remove a field without a default',
    history: [user([id, { name: 'age', type: 'int' }])],
    next: user([id]),
    verdicts: [T, T, F, F, F, F, T],
  },
  {
    name: 'rename a field, keeping the old name as an alias',
    history: [user([id, { name: 'mail', type: 'string' }])],
    next: user([id, { name: 'email', type: 'string', aliases: ['mail'] }]),
    verdicts: [T, T, F, F, F, F, T],
  },
  {
    name: 'promote int to long',
    history: [user([id, { name: 'age', type: 'int' }])],
    next: user([id, { name: 'age', type: 'long' }]),
    verdicts: [T, T, F, F, F, F, T],
  },
  {
    name: 'add an enum symbol (the enum has a default)',
    history: [user([id, color(['RED', 'UNKNOWN'], true)])],
    next: user([id, color(['RED', 'GREEN', 'UNKNOWN'], true)]),
    verdicts: [T, T, T, T, T, T, T],
  },
  {
    name: 'add an enum symbol (no enum default)',
    history: [user([id, color(['RED', 'UNKNOWN'], false)])],
    next: user([id, color(['RED', 'GREEN', 'UNKNOWN'], false)]),
    verdicts: [T, T, F, F, F, F, T],
  },
  {
    name: 'add a union branch',
    history: [user([id, { name: 'tag', type: ['null', 'string'], default: null }])],
    next: user([id, { name: 'tag', type: ['null', 'string', 'int'], default: null }]),
    verdicts: [T, T, F, F, F, F, T],
  },
  {
    name: 'remove a union branch',
    history: [user([id, { name: 'tag', type: ['null', 'string', 'int'], default: null }])],
    next: user([id, { name: 'tag', type: ['null', 'string'], default: null }]),
    verdicts: [F, F, T, T, F, F, T],
  },
  {
    // v3 reads v2 (b is there) but not v1 (b is missing and v3 has no default).
    name: 'drop the default of a field added with one (3 versions)',
    history: [user([id]), user([id, { name: 'b', type: 'string', default: 'x' }])],
    next: user([id, { name: 'b', type: 'string' }]),
    verdicts: [T, F, T, T, T, F, T],
  },
  {
    // v2 reads v3 (b has a default in v2) but v1 cannot (b has none in v1).
    name: 'remove a field that only gained a default later (3 versions)',
    history: [
      user([id, { name: 'b', type: 'string' }]),
      user([id, { name: 'b', type: 'string', default: 'x' }]),
    ],
    next: user([id]),
    verdicts: [T, T, T, F, T, F, T],
  },
];

describe('compatibility matrix through the HTTP API', () => {
  let env: Awaited<ReturnType<typeof withRegistry>>;
  before(async () => {
    env = await withRegistry();
  });
  after(() => env.stop());

  changes.forEach((change, c) => {
    describe(change.name, () => {
      LEVELS.forEach((level, l) => {
        const expected = change.verdicts[l];
        it(`${level}: ${expected ? 'compatible' : 'incompatible'}`, async () => {
          const h = env.http;
          const subject = `matrix-${c}-${level}`;
          // Build the history without checks, then switch the subject to the level under test.
          assert.equal((await h.put(`/config/${subject}`, { compatibility: 'NONE' })).status, 200);
          for (const schema of change.history) {
            assert.equal((await h.post(`/subjects/${subject}/versions`, body(schema))).status, 200);
          }
          const put = await h.put(`/config/${subject}`, { compatibility: level });
          assert.deepEqual(put.body, { compatibility: level });

          // Against every live version: for non-transitive levels only the latest one counts.
          const all = await h.post(`/compatibility/subjects/${subject}/versions`, body(change.next));
          assert.deepEqual([all.status, all.body], [200, { is_compatible: expected }]);
          if (change.history.length === 1) {
            const latest = await h.post(
              `/compatibility/subjects/${subject}/versions/latest`,
              body(change.next),
            );
            assert.deepEqual([latest.status, latest.body], [200, { is_compatible: expected }]);
          }

          const registered = await h.post(`/subjects/${subject}/versions`, body(change.next));
          const versions = await h.get(`/subjects/${subject}/versions`);
          const count = change.history.length;
          if (expected) {
            assert.equal(registered.status, 200);
            assert.deepEqual(
              versions.body,
              [...Array(count + 1).keys()].map((i) => i + 1),
            );
            const latest = await h.get(`/subjects/${subject}/versions/latest`);
            assert.equal(latest.body.id, registered.body.id);
          } else {
            assert.equal(registered.status, 409);
            assert.equal(registered.body.error_code, 409);
            assert.match(
              registered.body.message,
              new RegExp(`incompatible with an earlier schema for subject "${subject}"`),
            );
            assert.deepEqual(
              versions.body,
              [...Array(count).keys()].map((i) => i + 1),
            );
          }
        });
      });
    });
  });

  it('explains an incompatibility with ?verbose=true', async () => {
    const h = env.http;
    const subject = 'matrix-verbose';
    assert.equal((await h.post(`/subjects/${subject}/versions`, body(user([id])))).status, 200);
    const res = await h.post(
      `/compatibility/subjects/${subject}/versions/latest?verbose=true`,
      body(user([id, { name: 'email', type: 'string' }])),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      is_compatible: false,
      messages: [
        'the new schema cannot read data written with version 1: no matching field for default-less User.email',
        "{compatibility: 'BACKWARD'}",
      ],
    });
    const ok = await h.post(`/compatibility/subjects/${subject}/versions/1?verbose=true`, body(user([id])));
    assert.deepEqual(ok.body, { is_compatible: true, messages: [] });
    // With no earlier version anything is compatible; an unknown version is 40402.
    const fresh = await h.post('/compatibility/subjects/matrix-nothing/versions/latest', body(user([id])));
    assert.deepEqual(fresh.body, { is_compatible: true });
    const missing = await h.post(`/compatibility/subjects/${subject}/versions/7`, body(user([id])));
    assert.deepEqual([missing.status, missing.body.error_code], [404, 40402]);
  });
});
