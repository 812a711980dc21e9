// Checks the Sluice event catalogue itself: the .avsc files, catalogue.json and the generated types.
// Run: node --import tsx --test schemas/catalogue.test.ts
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { loadCatalogue, type SchemaEntry } from '../engine/catalogue/index.js';
import { generatedFile, generateEventTypes } from '../scripts/gen-types.js';
import type { SensorReadingRecorded } from './generated/events.js';

const schemasDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(schemasDir);
const catalogue = loadCatalogue(schemasDir);
const schemas = [...catalogue.schemas.values()];

type Json = Record<string, unknown>;

/** Calls `visit` on every record, enum and fixed definition in `schema`, with a readable path. */
function walkNamed(schema: unknown, path: string, visit: (node: Json, path: string) => void): void {
  if (Array.isArray(schema)) {
    for (const [i, branch] of schema.entries()) walkNamed(branch, `${path}[${i}]`, visit);
    return;
  }
  if (schema === null || typeof schema !== 'object') return;
  const node = schema as Json;
  if (node.type === 'record' || node.type === 'enum' || node.type === 'fixed') visit(node, path);
  if (node.type === 'record') {
    for (const field of node.fields as Json[]) walkNamed(field.type, `${path}.${field.name}`, visit);
  } else if (node.type === 'array') {
    walkNamed(node.items, `${path}[]`, visit);
  } else if (node.type === 'map') {
    walkNamed(node.values, `${path}{}`, visit);
  } else if (typeof node.type === 'object') {
    walkNamed(node.type, path, visit);
  }
}

/** Every field of every record in `schema`, with its path. */
function allFields(schema: SchemaEntry): { path: string; field: Json }[] {
  const out: { path: string; field: Json }[] = [];
  walkNamed(schema.json, schema.fullName, (node, path) => {
    if (node.type !== 'record') return;
    for (const field of node.fields as Json[]) out.push({ path: `${path}.${field.name}`, field });
  });
  return out;
}

/** A copy of `json` with `edit` applied to every named definition. */
function mapNamed(json: Json, edit: (node: Json) => Json): Json {
  const copy = structuredClone(json);
  walkNamed(copy, '', (node) => Object.assign(node, edit({ ...node })));
  return copy;
}

test('schemas/generated/events.ts is up to date', () => {
  const current = readFileSync(join(root, generatedFile), 'utf8');
  assert.equal(
    current,
    generateEventTypes(catalogue),
    `${generatedFile} is stale: run \`npm run gen:types\``,
  );
});

describe('every schema', () => {
  test('is a file named after its record, under its domain, in namespace sluice.<domain>', () => {
    assert.equal(schemas.length, 20);
    for (const schema of schemas) {
      const domain = schema.file.split('/')[0];
      assert.match(domain, /^[a-z]+$/, schema.file);
      assert.equal(schema.json.namespace, `sluice.${domain}`, schema.file);
      assert.equal(schema.file, `${domain}/${basename(schema.file)}`, schema.file);
      assert.equal(schema.fullName, `sluice.${domain}.${basename(schema.file, '.avsc')}`);
    }
  });

  test('parses with avsc on its own', () => {
    for (const schema of schemas) {
      const type = avro.Type.forSchema(schema.json as avro.Schema);
      assert.equal(type.name, schema.fullName);
      assert.ok(type.equals(schema.type), schema.file);
    }
  });

  test('has a doc on every record, enum and field', () => {
    for (const schema of schemas) {
      walkNamed(schema.json, schema.fullName, (node, path) => {
        assert.equal(typeof node.doc, 'string', `${schema.file}: ${path} has no doc`);
        assert.notEqual((node.doc as string).trim(), '', `${schema.file}: ${path} has an empty doc`);
      });
      for (const { path, field } of allFields(schema)) {
        assert.equal(typeof field.doc, 'string', `${schema.file}: field ${path} has no doc`);
        assert.notEqual((field.doc as string).trim(), '', `${schema.file}: field ${path} has an empty doc`);
      }
    }
  });

  test('gives every enum a default symbol, so symbols can be added later', () => {
    for (const schema of schemas) {
      walkNamed(schema.json, schema.fullName, (node, path) => {
        if (node.type !== 'enum') return;
        assert.ok((node.symbols as string[]).includes(node.default as string), `${schema.file}: ${path}`);
      });
    }
  });

  test('uses logical types only where they fit, and timestamp-millis for every *At field', () => {
    const underlying: Record<string, string> = { 'timestamp-millis': 'long', uuid: 'string' };
    const logicalOf = (type: unknown): Json | undefined => {
      const branches = Array.isArray(type) ? type : [type];
      return branches.find((b): b is Json => typeof b === 'object' && b !== null && 'logicalType' in b);
    };
    for (const schema of schemas) {
      for (const { path, field } of allFields(schema)) {
        const logical = logicalOf(field.type);
        if (logical !== undefined) {
          const expected = underlying[logical.logicalType as string];
          assert.ok(expected !== undefined, `${schema.file}: ${path} uses unknown logical type`);
          assert.equal(logical.type, expected, `${schema.file}: ${path}`);
        }
        if ((field.name as string).endsWith('At')) {
          assert.equal(
            logical?.logicalType,
            'timestamp-millis',
            `${schema.file}: ${path} should be a timestamp`,
          );
        }
      }
      const occurredAt = schema.json.fields as Json[];
      assert.deepEqual(
        occurredAt.find((f) => f.name === 'occurredAt')?.type,
        { type: 'long', logicalType: 'timestamp-millis' },
        `${schema.file}: needs a required occurredAt`,
      );
    }
  });

  test('writes optional fields as ["null", T] with default null', () => {
    for (const schema of schemas) {
      for (const { path, field } of allFields(schema)) {
        if (!Array.isArray(field.type)) continue;
        assert.equal(field.type.length, 2, `${schema.file}: ${path}`);
        assert.equal(field.type[0], 'null', `${schema.file}: ${path}`);
        assert.ok('default' in field && field.default === null, `${schema.file}: ${path} needs default null`);
      }
    }
  });

  test('round-trips 200 random values through toBuffer/fromBuffer', () => {
    for (const schema of schemas) {
      for (let i = 0; i < 200; i++) {
        const value = schema.type.random();
        assert.ok(schema.type.isValid(value), schema.file);
        assert.deepStrictEqual(schema.type.fromBuffer(schema.type.toBuffer(value)), value, schema.file);
      }
    }
  });
});

describe('schema evolution (BACKWARD)', () => {
  test('every schema can read data written with itself', () => {
    for (const schema of schemas) {
      const reader = avro.Type.forSchema(schema.json as avro.Schema);
      const resolver = reader.createResolver(schema.type);
      const value = schema.type.random();
      assert.deepStrictEqual(reader.fromBuffer(schema.type.toBuffer(value), resolver), reader.clone(value));
    }
  });

  test('every schema can read data written with only its required fields (defaulted fields were addable)', () => {
    for (const schema of schemas) {
      const required = mapNamed(schema.json, (node) =>
        node.type === 'record'
          ? { ...node, fields: (node.fields as Json[]).filter((f) => !('default' in f)) }
          : node,
      );
      const writer = avro.Type.forSchema(required as avro.Schema);
      const resolver = schema.type.createResolver(writer);
      const decoded = schema.type.fromBuffer(writer.toBuffer(writer.random()), resolver);
      assert.ok(schema.type.isValid(decoded), schema.file);
    }
  });

  test('every enum reads symbols added later as its default', () => {
    for (const schema of schemas) {
      const added = mapNamed(schema.json, (node) =>
        node.type === 'enum' ? { ...node, symbols: [...(node.symbols as string[]), 'ADDED_LATER'] } : node,
      );
      const writer = avro.Type.forSchema(added as avro.Schema);
      const resolver = schema.type.createResolver(writer);
      for (let i = 0; i < 50; i++) {
        const decoded = schema.type.fromBuffer(writer.toBuffer(writer.random()), resolver);
        assert.ok(schema.type.isValid(decoded), schema.file);
        assert.ok(!JSON.stringify(decoded).includes('ADDED_LATER'), schema.file);
      }
    }
  });
});

describe('the topic catalogue', () => {
  test('references only existing schemas, and every schema is used by a topic', () => {
    const used = new Set(catalogue.topics.flatMap((t) => t.values));
    for (const fullName of used) assert.ok(catalogue.schemas.has(fullName), `no schema ${fullName}`);
    for (const fullName of catalogue.schemas.keys())
      assert.ok(used.has(fullName), `no topic carries ${fullName}`);
  });

  test('names topics <domain>.<entity>.<event-kind>, the domain being the values’ namespace', () => {
    for (const topic of catalogue.topics) {
      assert.match(topic.name, /^[a-z]+(\.[a-z-]+){2}$/);
      const domain = topic.name.split('.')[0];
      for (const fullName of topic.values)
        assert.equal(fullName.split('.').slice(0, 2).join('.'), `sluice.${domain}`);
    }
  });

  test('uses TopicNameStrategy for single-type topics and TopicRecordNameStrategy for multi-type ones', () => {
    for (const topic of catalogue.topics) {
      const strategy = topic.values.length === 1 ? 'TopicNameStrategy' : 'TopicRecordNameStrategy';
      assert.equal(topic.subjectStrategy, strategy, topic.name);
      const expected = topic.values.map((fullName) => ({
        fullName,
        subject: topic.values.length === 1 ? `${topic.name}-value` : `${topic.name}-${fullName}`,
      }));
      assert.deepEqual(topic.subjects, expected, topic.name);
    }
  });

  test('keys every topic by a string field of its values, and co-partitions the subjectId topics', () => {
    for (const topic of catalogue.topics)
      assert.ok(topic.key.field !== undefined, `${topic.name} has no key field`);
    const bySubject = catalogue.topics.filter((t) => t.key.field === 'subjectId');
    assert.deepEqual(
      bySubject.map((t) => t.name),
      [
        'ingest.upload.received',
        'labels.label.assigned',
        'features.vector.computed',
        'inference.prediction.made',
        'feedback.feedback.received',
        'feedback.prediction.scored',
        'tabular.record.ingested',
      ],
    );
    assert.deepEqual(new Set(bySubject.map((t) => t.partitions)), new Set([12]));
  });

  test('matches the topic table of schemas/README.md', () => {
    const rows = readFileSync(join(schemasDir, 'README.md'), 'utf8')
      .split('\n')
      .filter((line) => /^\| `[a-z-]+\.[a-z-]+\.[a-z-]+` /.test(line))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    const days = (ms: number) => (ms === -1 ? 'forever' : `${ms / 86_400_000} days`);
    assert.deepEqual(
      rows.map(([, name, key, , , partitions, cleanup, retention]) => [
        name,
        key,
        partitions,
        cleanup,
        retention,
      ]),
      catalogue.topics.map((t) => [
        `\`${t.name}\``,
        t.key.field,
        String(t.partitions),
        t.cleanupPolicy,
        days(t.retentionMs),
      ]),
    );
  });

  test('keeps champion changes compacted and the version registry whole', () => {
    assert.equal(catalogue.topic('models.champion.changed').cleanupPolicy, 'compact');
    assert.deepEqual(catalogue.topic('models.champion.changed').values, [
      'sluice.models.ModelPromoted',
      'sluice.models.ModelRolledBack',
    ]);
    const registry = catalogue.topic('models.version.registered');
    assert.deepEqual([registry.cleanupPolicy, registry.retentionMs], ['delete', -1]);
  });
});

describe('SensorReadingRecorded, written by other teams', () => {
  const schema = catalogue.schemas.get('sluice.sensors.SensorReadingRecorded')!;
  const fields = schema.json.fields as Json[];

  test('has exactly four required fields, every other field has a default', () => {
    const required = fields.filter((f) => !('default' in f)).map((f) => [f.name, f.type]);
    assert.deepEqual(required, [
      ['deviceId', 'string'],
      ['metric', 'string'],
      ['value', 'double'],
      ['occurredAt', { type: 'long', logicalType: 'timestamp-millis' }],
    ]);
    const unit = fields.find((f) => f.name === 'unit')!;
    assert.deepEqual([unit.type, unit.default], [['null', 'string'], null]);
    assert.equal(catalogue.topic('sensors.reading.recorded').key.field, 'deviceId');
  });

  test('encodes a value with only the four fields, and decodes it with the defaults', () => {
    const minimal = {
      deviceId: 'press-7',
      metric: 'temperature',
      value: 71.25,
      occurredAt: 1_718_000_000_123,
    };
    const decoded: SensorReadingRecorded = schema.type.fromBuffer(schema.type.toBuffer(minimal));
    assert.deepStrictEqual(
      { ...decoded },
      {
        ...minimal,
        unit: null,
        quality: 'UNKNOWN',
        source: 'UNKNOWN',
        sequence: null,
        receivedAt: null,
        tags: {},
      },
    );
  });

  test('reads what a producer with a four-field schema of its own wrote', () => {
    const theirs = avro.Type.forSchema({
      type: 'record',
      name: 'SensorReadingRecorded',
      namespace: 'sluice.sensors',
      fields: [
        { name: 'deviceId', type: 'string' },
        { name: 'metric', type: 'string' },
        { name: 'value', type: 'double' },
        { name: 'occurredAt', type: { type: 'long', logicalType: 'timestamp-millis' } },
      ],
    } as avro.Schema);
    const bytes = theirs.toBuffer({ deviceId: 'd', metric: 'rpm', value: 1200, occurredAt: 5 });
    const decoded = schema.type.fromBuffer(bytes, schema.type.createResolver(theirs));
    assert.deepStrictEqual(
      [decoded.deviceId, decoded.value, decoded.unit, decoded.tags],
      ['d', 1200, null, {}],
    );
  });
});
