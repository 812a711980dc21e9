import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { registryCanonicalForm } from './canonicalForm.js';
import type { CompatibilityLevel, LogRecord, Mode } from './records.js';
import { RegistryState } from './state.js';

const canonicalize = (s: string) => {
  try {
    return registryCanonicalForm(s);
  } catch {
    return undefined;
  }
};

const SCHEMAS = [
  '{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}',
  '{"type":"record","name":"R","fields":[{"name":"b","type":"int"}]}',
  '{"type":"record","name":"R","fields":[{"name":"c","type":"int"}]}',
  // The first schema again, with a doc: the same canonical form.
  '{"type":"record","name":"R","doc":"again","fields":[{"name":"a","type":"int"}]}',
];

const schema = (subject: string, version: number, id: number, s: number, deleted = false): LogRecord => ({
  kind: 'schema',
  subject,
  version,
  id,
  schema: SCHEMAS[s],
  deleted,
});

interface Entry {
  key: string;
  record: LogRecord | null;
}

function fold(log: (Entry & { offset: number })[]): RegistryState {
  const state = new RegistryState(canonicalize);
  for (const e of log) state.apply(e.offset, e.key, e.record);
  return state;
}

describe('RegistryState rules', () => {
  it('accepts the first record for a version and rejects conflicting ones', () => {
    const s = new RegistryState(canonicalize);
    assert.equal(s.apply(0, 'k0', schema('a', 1, 1, 0)), true);
    assert.equal(s.apply(1, 'k1', schema('a', 1, 2, 1)), false, 'version 1 is taken');
    assert.equal(s.apply(2, 'k2', schema('b', 1, 1, 1)), false, 'id 1 names another schema');
    assert.equal(s.apply(3, 'k3', schema('b', 1, 1, 3)), true, 'id 1 again for the same canonical schema');
    assert.equal(s.apply(4, 'k4', schema('a', 1, 1, 0)), true, 'an identical repeat');
    assert.equal(s.apply(5, 'k5', schema('a', 2, 7, 3)), true, 'imports may give a schema a second id');
    assert.equal(s.apply(6, 'k6', schema('a', 2, 8, 1, true)), false, 'soft delete naming another id');
    assert.equal(s.apply(7, 'k7', schema('a', 2, 7, 3, true)), true);
    assert.deepEqual(s.versions('a', true), [1, 2]);
    assert.deepEqual(s.versions('a'), [1]);
    assert.equal(s.schema(1)?.schema, SCHEMAS[0]);
    assert.equal(s.idFor(canonicalize(SCHEMAS[0])!), 1);
    assert.equal(s.nextId(), 8);
    assert.deepEqual(s.rejectedKeys(), ['k1', 'k2', 'k6']);
  });

  it('recomputes when an accepted record is tombstoned, as a compacted log would read', () => {
    const s = new RegistryState(canonicalize);
    s.apply(0, 'k0', schema('a', 1, 1, 0));
    s.apply(1, 'k1', schema('a', 1, 2, 1)); // rejected: version taken
    s.apply(2, 'd0', { kind: 'deleteSubject', subject: 'a', version: 1 });
    assert.deepEqual(s.versions('a'), []);
    s.apply(3, 'd0', null);
    assert.deepEqual(s.versions('a'), [1]);
    s.apply(4, 'k0', null);
    // With the winner gone, the record it beat is all that is left of version 1.
    assert.equal(s.version('a', 1)?.id, 2);
    assert.deepEqual(s.rejectedKeys(), []);
  });

  it('lets a record that reuses a key replace the one before: why SCHEMA keys carry a nonce', () => {
    // Under Confluent's shared key a losing writer's record would displace an acknowledged one,
    // exactly as compaction would; unique keys make an accepted record immovable.
    const s = new RegistryState(canonicalize);
    const shared = '{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}';
    assert.equal(s.apply(0, shared, schema('a', 1, 1, 0)), true);
    assert.equal(s.apply(1, shared, schema('a', 1, 2, 1)), true);
    assert.equal(s.version('a', 1)?.id, 2);
  });
});

// ---------------------------------------------------------------- compaction property

const subjects = fc.constantFrom('a', 'b');
const levels = fc.constantFrom<CompatibilityLevel | null>('FULL', 'NONE', null);
const modes = fc.constantFrom<Mode | null>('READONLY', 'IMPORT', null);

type Op =
  | { op: 'schema'; subject: string; version: number; id: number; s: number; deleted: boolean }
  | { op: 'deleteSubject'; subject: string; version: number }
  | { op: 'config'; subject: string | null; level: CompatibilityLevel | null }
  | { op: 'mode'; subject: string | null; mode: Mode | null }
  | { op: 'tombstone'; pick: number }
  | { op: 'duplicate'; pick: number }
  | { op: 'noop' };

const ops = fc.array(
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        op: fc.constant('schema' as const),
        subject: subjects,
        version: fc.integer({ min: 1, max: 3 }),
        id: fc.integer({ min: 1, max: 4 }),
        s: fc.integer({ min: 0, max: 3 }),
        deleted: fc.boolean(),
      }),
    },
    fc.record({
      op: fc.constant('deleteSubject' as const),
      subject: subjects,
      version: fc.integer({ min: 1, max: 3 }),
    }),
    fc.record({ op: fc.constant('config' as const), subject: fc.option(subjects), level: levels }),
    fc.record({ op: fc.constant('mode' as const), subject: fc.option(subjects), mode: modes }),
    { weight: 2, arbitrary: fc.record({ op: fc.constant('tombstone' as const), pick: fc.nat() }) },
    fc.record({ op: fc.constant('duplicate' as const), pick: fc.nat() }),
    fc.record({ op: fc.constant('noop' as const) }),
  ),
  { maxLength: 60 },
);

/** Turns operations into log entries: fresh nonce keys, shared CONFIG/MODE keys. */
function toLog(list: Op[]): (Entry & { offset: number })[] {
  const log: Entry[] = [];
  let nonce = 0;
  for (const o of list) {
    const keyed = log.filter((e) => e.record !== null && e.record.kind !== 'noop');
    switch (o.op) {
      case 'schema':
        log.push({ key: `S${nonce++}`, record: schema(o.subject, o.version, o.id, o.s, o.deleted) });
        break;
      case 'deleteSubject':
        log.push({
          key: `D${nonce++}`,
          record: { kind: 'deleteSubject', subject: o.subject, version: o.version },
        });
        break;
      case 'config':
        log.push({
          key: `C:${o.subject}`,
          record: { kind: 'config', subject: o.subject, compatibility: o.level },
        });
        break;
      case 'mode':
        log.push({ key: `M:${o.subject}`, record: { kind: 'mode', subject: o.subject, mode: o.mode } });
        break;
      case 'tombstone':
        if (keyed.length > 0) log.push({ key: keyed[o.pick % keyed.length].key, record: null });
        break;
      case 'duplicate':
        if (keyed.length > 0) log.push({ ...keyed[o.pick % keyed.length] });
        break;
      case 'noop':
        log.push({ key: 'NOOP', record: { kind: 'noop' } });
        break;
    }
  }
  return log.map((e, offset) => ({ ...e, offset }));
}

/**
 * Kafka's cleaner on the first `cleanable` records: a record goes if a later one has its key;
 * the latest record of a key goes too if it is a tombstone and tombstones are being dropped.
 */
function compact<T extends Entry & { offset: number }>(
  log: T[],
  cleanable: number,
  dropTombstones: boolean,
): T[] {
  const latest = new Map<string, number>();
  for (const e of log) latest.set(e.key, e.offset);
  return log.filter((e, i) => {
    if (i >= cleanable) return true;
    if (latest.get(e.key) !== e.offset) return false;
    return e.record !== null || !dropTombstones;
  });
}

describe('RegistryState under compaction', () => {
  it('folds a compacted log to the same state as the full log', () => {
    fc.assert(
      fc.property(ops, fc.nat(), fc.boolean(), fc.nat(), (list, cut, drop, cut2) => {
        const log = toLog(list);
        const expected = fold(log).snapshot();
        const once = compact(log, log.length === 0 ? 0 : cut % (log.length + 1), drop);
        assert.deepEqual(fold(once).snapshot(), expected);
        const twice = compact(once, once.length === 0 ? 0 : cut2 % (once.length + 1), true);
        assert.deepEqual(fold(twice).snapshot(), expected);
      }),
      { numRuns: 1000 },
    );
  });
});
