import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type pg from 'pg';
import {
  accumulate,
  type ConflictPolicy,
  insertIgnore,
  quoteIdent,
  type Row,
  type TargetSpec,
  TargetWriter,
  upsert,
  type WriteMode,
} from '../../engine/projection/index.js';
import { conflictClause } from '../../engine/projection/targetWriter.js';
import { freshSchema, type TestSchema } from './support.js';

const policies: Record<string, ConflictPolicy> = {
  ignore: insertIgnore(),
  upsert: upsert('label', 'score'),
  accumulate: accumulate({ n: 'sum', total: 'sum', lo: 'min', hi: 'max', label: 'replace' }),
};

function spec(table: string, conflict: ConflictPolicy, key = ['k']): TargetSpec {
  return {
    table,
    columns: { k: 'text', n: 'int8', total: 'int8', lo: 'int4', hi: 'int4', label: 'text', score: 'float8' },
    key,
    conflict,
  };
}

async function createTable(pool: pg.Pool, name: string, keyed: boolean) {
  await pool.query(`CREATE TABLE ${name} (k text ${keyed ? 'PRIMARY KEY' : ''}, n bigint, total bigint,
    lo int, hi int, label text, score double precision)`);
}

/** The reference: each row on its own, with the same ON CONFLICT clause. */
async function rowByRow(pool: pg.Pool, s: TargetSpec, table: string, rows: Row[]) {
  const cols = Object.keys(s.columns);
  const sql = `INSERT INTO ${table} AS t (${cols.map(quoteIdent).join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) ${conflictClause(s)}`;
  for (const r of rows)
    await pool.query(
      sql,
      cols.map((c) => r[c] ?? null),
    );
}

async function contents(pool: pg.Pool, table: string) {
  const { rows } = await pool.query(`SELECT * FROM ${table} ORDER BY k, n, total, lo, hi, label, score`);
  return rows;
}

const rowArb = fc.record({
  k: fc.constantFrom('a', 'b', 'c', 'd'),
  n: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
  total: fc.integer({ min: -1e6, max: 1e6 }),
  lo: fc.integer({ min: -100, max: 100 }),
  hi: fc.option(fc.integer({ min: -100, max: 100 }), { nil: null }),
  label: fc.option(fc.string({ maxLength: 6 }), { nil: null }),
  score: fc.integer({ min: 0, max: 1000 }).map((x) => x / 8),
});

describe('TargetWriter on PostgreSQL', () => {
  let schema: TestSchema;
  let seq = 0;
  before(async () => {
    schema = await freshSchema();
  });
  after(() => schema.drop());

  for (const mode of ['unnest', 'copy'] as WriteMode[]) {
    for (const [name, policy] of Object.entries(policies)) {
      it(`${mode} ${name}: folding a batch and merging it equals applying its rows one by one`, async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.array(rowArb, { maxLength: 25 }),
            fc.array(rowArb, { minLength: 1, maxLength: 40 }),
            async (first, second) => {
              const bulk = `bulk_${++seq}`;
              const ref = `ref_${seq}`;
              await createTable(schema.pool, bulk, true);
              await createTable(schema.pool, ref, true);
              const s = spec(bulk, policy);
              const w = new TargetWriter('t', s, quoteIdent(bulk));
              const client = await schema.pool.connect();
              try {
                await w.prepareSession(client);
                await client.query('BEGIN');
                await w.write(client, first, mode);
                await w.write(client, second, mode);
                await client.query('COMMIT');
              } finally {
                client.release();
              }
              await rowByRow(schema.pool, s, ref, [...first, ...second]);
              assert.deepEqual(await contents(schema.pool, bulk), await contents(schema.pool, ref));
              await schema.pool.query(`DROP TABLE ${bulk}, ${ref}`);
            },
          ),
          { numRuns: 15 },
        );
      });
    }

    it(`${mode}: an empty key appends every row`, async () => {
      const table = `append_${++seq}`;
      await createTable(schema.pool, table, false);
      const w = new TargetWriter('t', spec(table, insertIgnore(), []), quoteIdent(table));
      const rows = [{ k: 'a', n: 1 }, { k: 'a', n: 1 }, { k: 'b' }];
      const client = await schema.pool.connect();
      try {
        await w.prepareSession(client);
        await client.query('BEGIN');
        assert.equal(await w.write(client, rows, mode), 3);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const { rows: got } = await schema.pool.query(`SELECT k, n FROM ${table} ORDER BY k`);
      assert.deepEqual(got, [
        { k: 'a', n: '1' },
        { k: 'a', n: '1' },
        { k: 'b', n: null },
      ]);
    });

    it(`${mode}: values that need escaping round-trip exactly`, async () => {
      const table = `values_${++seq}`;
      await schema.pool.query(`CREATE TABLE ${table} (id int PRIMARY KEY, t text, i8 bigint, f float8, b boolean,
        ts timestamptz, d date, j jsonb, raw bytea, u uuid, num numeric)`);
      const target: TargetSpec = {
        table,
        columns: {
          id: 'int4',
          t: 'text',
          i8: 'int8',
          f: 'float8',
          b: 'bool',
          ts: 'timestamptz',
          d: 'date',
          j: 'jsonb',
          raw: 'bytea',
          u: 'uuid',
          num: 'numeric',
        },
        key: ['id'],
        conflict: insertIgnore(),
      };
      const texts = [
        '',
        'NULL',
        'a"b',
        'back\\slash',
        'tab\there',
        'new\nline\r',
        '{x,y}',
        'comma, space',
        'é ✓ 🚀',
      ];
      const rows = texts.map((t, id) => ({
        id,
        t,
        i8: id % 2 ? 9_007_199_254_740_993n : '-42',
        f: [Number.NaN, Number.POSITIVE_INFINITY, -0.5, 1e-300][id % 4],
        b: id % 2 === 0,
        ts: id % 2 ? new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)) : Date.UTC(2026, 0, 2, 3, 4, 5, 678),
        d: new Date(Date.UTC(2026, 5, 30)),
        j: { t, nested: [1, null, 'x'] },
        raw: Buffer.from([0, 92, 34, 9, 10, 255, id]),
        u: '00000000-0000-4000-8000-00000000000a',
        num: '12345678901234567890.0123',
      }));
      rows.push({
        id: 99,
        t: null,
        i8: null,
        f: null,
        b: null,
        ts: null,
        d: null,
        j: null,
        raw: null,
        u: null,
        num: null,
      } as never);
      const w = new TargetWriter('t', target, quoteIdent(table));
      const client = await schema.pool.connect();
      try {
        await w.prepareSession(client);
        await client.query('BEGIN');
        await w.write(client, rows, mode);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const { rows: got } = await schema.pool.query(
        `SELECT id, t, i8::text, f::text, b, ts, d::text, j, raw, u::text, num::text FROM ${table} ORDER BY id`,
      );
      assert.equal(got.length, texts.length + 1);
      texts.forEach((t, id) => {
        const r = got[id];
        assert.equal(r.t, t);
        assert.equal(r.i8, id % 2 ? '9007199254740993' : '-42');
        assert.equal(r.f, ['NaN', 'Infinity', '-0.5', '1e-300'][id % 4]);
        assert.equal(r.b, id % 2 === 0);
        assert.equal((r.ts as Date).getTime(), Date.UTC(2026, 0, 2, 3, 4, 5, 678));
        assert.equal(r.d, '2026-06-30');
        assert.deepEqual(r.j, { t, nested: [1, null, 'x'] });
        assert.deepEqual(r.raw, Buffer.from([0, 92, 34, 9, 10, 255, id]));
        assert.equal(r.u, '00000000-0000-4000-8000-00000000000a');
        assert.equal(r.num, '12345678901234567890.0123');
      });
      assert.deepEqual(Object.values(got[texts.length]).slice(1), Array(10).fill(null));
    });
  }
});
