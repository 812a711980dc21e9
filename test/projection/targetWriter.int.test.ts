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

  describe('binary COPY', () => {
    const columns = {
      id: 'int4',
      t: 'text',
      s: 'int2',
      i: 'int4',
      i8: 'int8',
      f: 'float8',
      b: 'bool',
      ts: 'timestamptz',
      local: 'timestamp',
      d: 'date',
      j: 'json',
      jb: 'jsonb',
      raw: 'bytea',
      u: 'uuid',
    } as const;
    const sqlTypes: Record<string, string> = {
      int4: 'int',
      int2: 'smallint',
      int8: 'bigint',
      float8: 'double precision',
      bool: 'boolean',
    };
    const MIN_MS = -62_135_596_800_000; // 0001-01-01
    const MAX_MS = 253_402_300_799_999;
    const instant = fc.oneof(
      fc.integer({ min: MIN_MS, max: MAX_MS }),
      fc.double({ min: MIN_MS, max: MAX_MS, noNaN: true }),
      fc.integer({ min: MIN_MS, max: MAX_MS }).map((ms) => new Date(ms)),
    );
    // A string is JSON text already (as node-postgres takes it): only structured values here.
    const noNul = (v: unknown) => typeof v !== 'string' && !JSON.stringify(v).includes('\\u0000');
    const rowArb = (id: number) =>
      fc.record({
        id: fc.constant(id),
        t: fc.option(
          fc.string({ unit: 'binary', maxLength: 40 }).filter((x) => !x.includes('\u0000')),
          { nil: null },
        ),
        s: fc.option(fc.integer({ min: -32768, max: 32767 }), { nil: null }),
        i: fc.option(fc.integer(), { nil: null }),
        i8: fc.option(fc.oneof(fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), {
          nil: null,
        }),
        f: fc.option(fc.double(), { nil: null }),
        b: fc.option(fc.boolean(), { nil: null }),
        ts: fc.option(instant, { nil: null }),
        local: fc.option(instant, { nil: null }),
        d: fc.option(instant, { nil: null }),
        j: fc.option(fc.jsonValue().filter(noNul), { nil: null }),
        jb: fc.option(fc.jsonValue().filter(noNul), { nil: null }),
        raw: fc.option(
          fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a)),
          { nil: null },
        ),
        u: fc.option(
          fc.uuid().map((x) => (x.charCodeAt(0) % 2 ? x.toUpperCase() : x)),
          { nil: null },
        ),
      });

    async function writeAll(table: string, rows: Row[], format: 'auto' | 'text') {
      const target: TargetSpec = { table, columns, key: ['id'], conflict: upsert('t', 'f') };
      const w = new TargetWriter('t', target, quoteIdent(table), format);
      const encoded = await w.encode(rows, 'copy');
      const client = await schema.pool.connect();
      try {
        await w.prepareSession(client);
        await client.query('BEGIN');
        await w.writeEncoded(client, encoded);
        // Again: every key now conflicts, so this goes through the staging table and the merge.
        await w.write(client, rows, 'copy');
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      } finally {
        client.release();
      }
      return encoded.path === 'copy' ? encoded.format : encoded.path;
    }

    async function table(name: string) {
      const cols = Object.entries(columns).map(([c, t]) => `${c} ${sqlTypes[t] ?? t}`);
      await schema.pool.query(`CREATE TABLE ${name} (${cols.join(', ')}, PRIMARY KEY (id))`);
    }

    const dump = async (name: string) =>
      (await schema.pool.query(`SELECT x::text AS row FROM ${name} x ORDER BY id`)).rows.map((r) => r.row);

    it('stores exactly what text COPY stores, for every column type it writes', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc
            .integer({ min: 1, max: 30 })
            .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rowArb(i)))),
          async (rows) => {
            const bin = `bin_${++seq}`;
            const txt = `txt_${seq}`;
            await table(bin);
            await table(txt);
            assert.equal(await writeAll(bin, rows, 'auto'), 'binary');
            assert.equal(await writeAll(txt, rows, 'text'), 'text');
            assert.deepEqual(await dump(bin), await dump(txt));
            await schema.pool.query(`DROP TABLE ${bin}, ${txt}`);
          },
        ),
        { numRuns: 40 },
      );
    });

    it('hands a batch to text COPY when a value is not one it writes exactly', async () => {
      const base = {
        t: 'x',
        s: 1,
        i: 2,
        i8: 3,
        f: -0,
        b: true,
        ts: Date.UTC(2026, 0, 1),
        local: Date.UTC(2026, 0, 1),
        d: Date.UTC(2026, 0, 1),
        j: { a: [1, 'é'] },
        jb: { a: [1, 'é'] },
        raw: Buffer.from([0, 1]),
        u: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
      };
      const unusual: Record<string, unknown>[] = [
        { ts: '2026-01-01 10:00:00+02' },
        { local: '2026-01-01 10:00' },
        { d: '2026-06-30' },
        { i: '42' },
        { i8: '9007199254740993' },
        { f: '1.5' },
        { b: 't' },
        { u: '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}' },
        { u: 'a0eebc999c0b4ef8bb6d6bb9bd380a11' },
        { raw: '\\x0102' },
      ];
      for (const change of unusual) {
        const rows = [
          { id: 1, ...base },
          { id: 2, ...base, ...change },
        ];
        const bin = `bin_${++seq}`;
        const txt = `txt_${seq}`;
        await table(bin);
        await table(txt);
        assert.equal(await writeAll(bin, rows, 'auto'), 'text', JSON.stringify(change));
        await writeAll(txt, rows, 'text');
        assert.deepEqual(await dump(bin), await dump(txt), JSON.stringify(change));
      }
    });

    it('rejects what text COPY rejects', async () => {
      const bads: Record<string, unknown>[] = [
        { t: 'nul\u0000byte' },
        { jb: '{"a":' },
        { j: 'not json' },
        { ts: Date.UTC(10000, 0, 1) },
      ];
      for (const bad of bads) {
        const name = `bad_${++seq}`;
        await table(name);
        const rows = [{ id: 1, ...bad }];
        await assert.rejects(writeAll(name, rows, 'auto'), /invalid|syntax|range/i, JSON.stringify(bad));
        await assert.rejects(writeAll(name, rows, 'text'), /invalid|syntax|range/i, JSON.stringify(bad));
      }
    });
  });
});
