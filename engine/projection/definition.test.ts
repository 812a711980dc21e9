import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accumulate,
  insertIgnore,
  type ProjectionDefinition,
  type TargetSpec,
  tableResolver,
  upsert,
  validateDefinition,
} from './definition.js';
import type { ProjectionError } from './errors.js';
import { foldRows } from './fold.js';
import { classifyWriteError } from './pgErrors.js';
import { conflictClause } from './targetWriter.js';

const decoder = { isLoaded: () => true, load: async () => ({}) as never, decodeSync: () => ({}) };

function def(target: TargetSpec, extra: Partial<ProjectionDefinition> = {}): ProjectionDefinition {
  return {
    name: 'p',
    version: 3,
    targets: { t: target },
    sources: [{ topic: 'a', decoder, handle: () => {} }],
    ...extra,
  };
}

const counts: TargetSpec = {
  table: 'analytics.counts',
  columns: { k: 'text', n: 'int8', at: 'timestamptz', label: 'text' },
  key: ['k'],
  conflict: accumulate({ n: 'sum', at: 'max', label: 'replace' }),
};

describe('projection definitions', () => {
  it('resolve tables per version, schema-qualified and quoted', () => {
    assert.equal(tableResolver(def(counts))('analytics.counts'), '"analytics"."counts_v3"');
    assert.equal(tableResolver(def(counts, { tableName: (t) => `x"${t}` }))('c'), '"x""c"');
  });

  it('reject inconsistent targets before anything runs', () => {
    const bad: [Partial<TargetSpec> | Partial<ProjectionDefinition>, RegExp][] = [
      [{ key: ['nope'] }, /key column nope/],
      [{ conflict: upsert('k') }, /update column k is part of the key/],
      [{ conflict: accumulate({ label: 'sum' }) }, /cannot sum text label/],
      [{ key: [], conflict: upsert('n') }, /upsert needs a key/],
    ];
    for (const [change, message] of bad) {
      assert.throws(
        () => validateDefinition(def({ ...counts, ...(change as Partial<TargetSpec>) })),
        (e: ProjectionError) => e.code === 'SLUICE_PROJECTION_INVALID_DEFINITION' && message.test(e.message),
      );
    }
    assert.throws(() => validateDefinition(def(counts, { name: 'Bad Name' })), /name must match/);
    assert.throws(() => validateDefinition(def(counts, { version: 0 })), /version/);
  });

  it('write the merge of each policy as ON CONFLICT SQL', () => {
    assert.equal(conflictClause({ ...counts, key: [], conflict: insertIgnore() }), 'ON CONFLICT DO NOTHING');
    assert.equal(
      conflictClause(counts),
      'ON CONFLICT ("k") DO UPDATE SET "n" = COALESCE(t."n" + EXCLUDED."n", t."n", EXCLUDED."n"), ' +
        '"at" = GREATEST(t."at", EXCLUDED."at"), "label" = EXCLUDED."label"',
    );
    assert.equal(conflictClause({ ...counts, conflict: upsert() }), 'ON CONFLICT ("k") DO NOTHING');
  });

  it('fold rows of one key as applying them one by one would', () => {
    const t0 = new Date(1000);
    const t1 = new Date(2000);
    const rows = [
      { k: 'a', n: 1, at: t1, label: 'x' },
      { k: 'b', n: 5n, at: t0, label: 'y' },
      { k: 'a', n: null, at: t0, label: 'z' },
      { k: 'a', n: 2, at: null, label: null },
      { k: 'b', n: 2, at: t1, label: 'w' },
    ];
    assert.deepEqual(foldRows(counts, rows), [
      { k: 'a', n: 3, at: t1, label: null },
      { k: 'b', n: 7n, at: t1, label: 'w' },
    ]);
    assert.deepEqual(foldRows({ ...counts, conflict: insertIgnore() }, rows), [rows[0], rows[1]]);
  });

  it("fold without touching the events' rows, and copy only the rows a later one changes", () => {
    const rows = [
      { k: 'a', n: 1, at: null, label: 'x' },
      { k: 'b', n: 2, at: null, label: 'y' },
      { k: 'a', n: 3, at: null, label: 'z' },
    ];
    const before = structuredClone(rows);
    const folded = foldRows(counts, rows);
    assert.deepEqual(rows, before);
    assert.notEqual(folded[0], rows[0]);
    assert.equal(folded[1], rows[1]);
    // A number key and its decimal text are one key, as the database casts them.
    const mixed = foldRows({ ...counts, key: ['n'], conflict: upsert('label') }, [
      { k: 'a', n: 7, at: null, label: 'x' },
      { k: 'b', n: '7', at: null, label: 'y' },
      { k: 'c', n: null, at: null, label: 'z' },
      { k: 'd', n: null, at: null, label: 'w' },
    ]);
    assert.deepEqual(mixed, [
      { k: 'a', n: 7, at: null, label: 'y' },
      { k: 'c', n: null, at: null, label: 'w' },
    ]);
    const pairs = foldRows({ ...counts, key: ['k', 'label'], conflict: accumulate({ n: 'sum' }) }, [
      { k: 'a', n: 1, at: null, label: 'x' },
      { k: 'a', n: 2, at: null, label: 'x' },
      { k: 'a', n: 4, at: null, label: 'y' },
    ]);
    assert.deepEqual(
      pairs.map((r) => r.n),
      [3, 4],
    );
  });

  it('tell transient database failures from bad rows and broken statements', () => {
    const pgErr = (code: string) => Object.assign(new Error(code), { code });
    assert.equal(classifyWriteError(pgErr('40001')), 'transient');
    assert.equal(classifyWriteError(pgErr('40P01')), 'transient');
    assert.equal(classifyWriteError(pgErr('57P01')), 'transient');
    assert.equal(classifyWriteError(pgErr('08006')), 'transient');
    assert.equal(classifyWriteError(new Error('Connection terminated unexpectedly')), 'transient');
    assert.equal(classifyWriteError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' })), 'transient');
    assert.equal(classifyWriteError(pgErr('23505')), 'row');
    assert.equal(classifyWriteError(pgErr('22P02')), 'row');
    assert.equal(classifyWriteError(pgErr('21000')), 'row');
    assert.equal(classifyWriteError(pgErr('42P01')), 'fatal');
    assert.equal(classifyWriteError(new Error('bug')), 'fatal');
  });
});
