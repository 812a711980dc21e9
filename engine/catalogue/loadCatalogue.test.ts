import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import avro from 'avsc';
import { CatalogueError, loadCatalogue, subjectName } from './index.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const orderPlaced = {
  type: 'record',
  name: 'OrderPlaced',
  namespace: 'shop.orders',
  doc: 'An order was placed.',
  fields: [
    { name: 'orderId', type: { type: 'string', logicalType: 'uuid' }, doc: 'Order id.' },
    { name: 'customerId', type: 'string', doc: 'Customer id.' },
    { name: 'occurredAt', type: { type: 'long', logicalType: 'timestamp-millis' }, doc: 'When.' },
    { name: 'note', type: ['null', 'string'], default: null, doc: 'Note.' },
  ],
};
const orderShipped = {
  type: 'record',
  name: 'OrderShipped',
  namespace: 'shop.orders',
  doc: 'An order was shipped.',
  fields: [
    { name: 'orderId', type: 'string', doc: 'Order id.' },
    { name: 'customerId', type: 'string', doc: 'Customer id.' },
  ],
};
const ordersTopic = {
  name: 'orders.order.placed',
  doc: 'Orders.',
  key: { type: 'string', doc: 'customerId', field: 'customerId' },
  values: ['shop.orders.OrderPlaced'],
  subjectStrategy: 'TopicNameStrategy',
  subjects: { 'shop.orders.OrderPlaced': 'orders.order.placed-value' },
  partitions: 3,
  cleanupPolicy: 'delete',
  retentionMs: -1,
};
const lifecycleTopic = {
  name: 'orders.order.lifecycle',
  doc: 'Every order event.',
  key: { type: 'string', doc: 'customerId', field: 'customerId' },
  values: ['shop.orders.OrderPlaced', 'shop.orders.OrderShipped'],
  subjectStrategy: 'TopicRecordNameStrategy',
  subjects: {
    'shop.orders.OrderPlaced': 'orders.order.lifecycle-shop.orders.OrderPlaced',
    'shop.orders.OrderShipped': 'orders.order.lifecycle-shop.orders.OrderShipped',
  },
  partitions: 1,
  cleanupPolicy: 'compact',
  retentionMs: 86_400_000,
};

/** Writes `files` (path → JSON value, or raw text) into a fresh temp dir and returns it. */
function fixture(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-catalogue-'));
  dirs.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

function validFiles(): Record<string, unknown> {
  return {
    'catalogue.json': { doc: 'Shop.', topics: [ordersTopic, lifecycleTopic] },
    'orders/OrderPlaced.avsc': orderPlaced,
    'orders/OrderShipped.avsc': orderShipped,
  };
}

function withTopics(...topics: unknown[]): Record<string, unknown> {
  return { ...validFiles(), 'catalogue.json': { topics } };
}

/** Asserts that loading `dir` throws a CatalogueError with this code and these issue lines. */
function assertFails(dir: string, code: string, issues: string[]): void {
  assert.throws(
    () => loadCatalogue(dir),
    (err: unknown) => {
      assert.ok(err instanceof CatalogueError, `expected a CatalogueError, got ${String(err)}`);
      assert.equal(err.name, 'CatalogueError');
      assert.equal(err.code, code);
      assert.deepEqual(err.issues, issues);
      assert.equal(err.message, issues.join('\n'));
      assert.equal(err.retriable, false);
      return true;
    },
  );
}

describe('loadCatalogue on a valid catalogue', () => {
  test('returns the topics with their subjects, in catalogue order', () => {
    const catalogue = loadCatalogue(fixture(validFiles()));
    assert.deepEqual(catalogue.topics, [
      {
        name: 'orders.order.placed',
        doc: 'Orders.',
        key: { type: 'string', doc: 'customerId', field: 'customerId' },
        values: ['shop.orders.OrderPlaced'],
        subjectStrategy: 'TopicNameStrategy',
        subjects: [{ fullName: 'shop.orders.OrderPlaced', subject: 'orders.order.placed-value' }],
        partitions: 3,
        cleanupPolicy: 'delete',
        retentionMs: -1,
      },
      {
        name: 'orders.order.lifecycle',
        doc: 'Every order event.',
        key: { type: 'string', doc: 'customerId', field: 'customerId' },
        values: ['shop.orders.OrderPlaced', 'shop.orders.OrderShipped'],
        subjectStrategy: 'TopicRecordNameStrategy',
        subjects: [
          { fullName: 'shop.orders.OrderPlaced', subject: 'orders.order.lifecycle-shop.orders.OrderPlaced' },
          {
            fullName: 'shop.orders.OrderShipped',
            subject: 'orders.order.lifecycle-shop.orders.OrderShipped',
          },
        ],
        partitions: 1,
        cleanupPolicy: 'compact',
        retentionMs: 86_400_000,
      },
    ]);
    assert.equal(catalogue.topic('orders.order.lifecycle'), catalogue.topics[1]);
  });

  test('returns every schema by full name with its file, raw JSON and avsc type', () => {
    const catalogue = loadCatalogue(fixture(validFiles()));
    assert.deepEqual([...catalogue.schemas.keys()], ['shop.orders.OrderPlaced', 'shop.orders.OrderShipped']);
    const placed = catalogue.schemas.get('shop.orders.OrderPlaced')!;
    assert.equal(placed.fullName, 'shop.orders.OrderPlaced');
    assert.equal(placed.file, 'orders/OrderPlaced.avsc');
    assert.deepEqual(placed.json, orderPlaced);
    assert.equal(placed.type.name, 'shop.orders.OrderPlaced');
    const value = {
      orderId: '0190f3c4-1111-7000-8000-000000000001',
      customerId: 'c-1',
      occurredAt: 1_700_000_000_123,
    };
    // With no logical types registered, timestamp-millis decodes as a number and defaults are filled in.
    assert.deepEqual({ ...placed.type.fromBuffer(placed.type.toBuffer(value)) }, { ...value, note: null });
  });

  test('passes logicalTypes to avsc', () => {
    class DateType extends avro.types.LogicalType {
      protected override _fromValue(val: number): Date {
        return new Date(val);
      }
      protected override _toValue(date: Date): number {
        return date.getTime();
      }
    }
    const catalogue = loadCatalogue(fixture(validFiles()), {
      logicalTypes: { 'timestamp-millis': DateType },
    });
    const type = catalogue.schemas.get('shop.orders.OrderPlaced')!.type;
    const decoded = type.fromBuffer(
      type.toBuffer({ orderId: 'o', customerId: 'c', occurredAt: new Date(1_700_000_000_123), note: 'x' }),
    );
    assert.deepEqual(decoded.occurredAt, new Date(1_700_000_000_123));
  });

  test('topic() names the unknown topic', () => {
    const dir = fixture(validFiles());
    const catalogue = loadCatalogue(dir);
    assert.throws(() => catalogue.topic('orders.order.cancelled'), {
      name: 'CatalogueError',
      code: 'SLUICE_CATALOGUE_UNKNOWN_TOPIC',
      message: `unknown topic "orders.order.cancelled": the catalogue in ${dir} has no such topic`,
    });
  });

  test('ignores files that are not .avsc and dot-directories', () => {
    const dir = fixture({
      ...validFiles(),
      'README.md': '# shop',
      'generated/events.ts': 'export {};',
      '.cache/Broken.avsc': '{',
    });
    assert.equal(loadCatalogue(dir).schemas.size, 2);
  });
});

describe('loadCatalogue rejects', () => {
  test('a missing directory or catalogue.json', () => {
    const dir = fixture({ 'orders/OrderPlaced.avsc': orderPlaced });
    assertFails(join(dir, 'nope'), 'SLUICE_CATALOGUE_NOT_FOUND', [
      `${join(dir, 'nope')}: no such catalogue directory`,
    ]);
    assertFails(dir, 'SLUICE_CATALOGUE_NOT_FOUND', [`${join(dir, 'catalogue.json')}: no such file`]);
  });

  test('invalid JSON, naming the file', () => {
    const text = '{ "topics": [ }';
    let parseMessage = '';
    try {
      JSON.parse(text);
    } catch (err) {
      parseMessage = (err as Error).message;
    }
    const badCatalogue = fixture({ ...validFiles(), 'catalogue.json': text });
    assertFails(badCatalogue, 'SLUICE_CATALOGUE_INVALID', [
      `${join(badCatalogue, 'catalogue.json')}: invalid JSON: ${parseMessage}`,
    ]);
    const badSchema = fixture({ ...validFiles(), 'orders/OrderShipped.avsc': text });
    assertFails(badSchema, 'SLUICE_CATALOGUE_INVALID', [
      `${join(badSchema, 'orders/OrderShipped.avsc')}: invalid JSON: ${parseMessage}`,
    ]);
  });

  test('a catalogue.json of the wrong shape, naming every field at fault', () => {
    const dir = fixture({
      ...validFiles(),
      'catalogue.json': {
        topics: [
          {
            ...ordersTopic,
            partitions: 0,
            cleanupPolicy: 'forever',
            key: { type: 'bytes', doc: 'k' },
            retentionMs: '7d',
            replicas: 3,
          },
          { name: 'orders.order.shipped' },
        ],
      },
    });
    const file = join(dir, 'catalogue.json');
    const label = ' (topic "orders.order.placed")';
    assertFails(dir, 'SLUICE_CATALOGUE_INVALID', [
      `${file}: topics[0].key.type: Invalid input: expected "string"${label}`,
      `${file}: topics[0].partitions: Too small: expected number to be >=1${label}`,
      `${file}: topics[0].cleanupPolicy: Invalid option: expected one of "delete"|"compact"|"compact,delete"${label}`,
      `${file}: topics[0].retentionMs: Invalid input: expected number, received string${label}`,
      `${file}: topics[0]: Unrecognized key: "replicas"`,
      `${file}: topics[1].doc: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].key: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].values: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].subjectStrategy: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].subjects: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].partitions: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].cleanupPolicy: missing (topic "orders.order.shipped")`,
      `${file}: topics[1].retentionMs: missing (topic "orders.order.shipped")`,
    ]);
  });

  test('a topic value that no .avsc file defines (missing schema reference)', () => {
    const dir = fixture(
      withTopics({
        ...ordersTopic,
        values: ['shop.orders.OrderPlaced', 'shop.orders.OrderCancelled'],
        subjectStrategy: 'TopicRecordNameStrategy',
        subjects: {
          'shop.orders.OrderPlaced': 'orders.order.placed-shop.orders.OrderPlaced',
          'shop.orders.OrderCancelled': 'orders.order.placed-shop.orders.OrderCancelled',
        },
      }),
    );
    assertFails(dir, 'SLUICE_CATALOGUE_INVALID', [
      `${join(dir, 'catalogue.json')}: topics[0].values[1]: no .avsc file defines shop.orders.OrderCancelled (topic "orders.order.placed")`,
    ]);
  });

  test('subjects that do not follow the strategy, and every other cross-check at once', () => {
    const dir = fixture(
      withTopics(
        {
          ...ordersTopic,
          values: ['shop.orders.OrderPlaced', 'shop.orders.OrderShipped'],
          subjects: { 'shop.orders.OrderPlaced': 'orders-value', 'shop.orders.Other': 'x' },
        },
        { ...lifecycleTopic, key: { type: 'string', doc: 'order', field: 'note' } },
        { ...lifecycleTopic, values: ['shop.orders.OrderShipped', 'shop.orders.OrderShipped'] },
      ),
    );
    const at = `${join(dir, 'catalogue.json')}: topics`;
    const orders = ' (topic "orders.order.placed")';
    const lifecycle = ' (topic "orders.order.lifecycle")';
    assertFails(dir, 'SLUICE_CATALOGUE_INVALID', [
      `${at}[0].subjectStrategy: TopicNameStrategy allows one value schema per topic, this topic has 2; use TopicRecordNameStrategy${orders}`,
      `${at}[0].subjects.shop.orders.OrderPlaced: "orders-value" does not follow TopicNameStrategy, expected "orders.order.placed-value"${orders}`,
      `${at}[0].subjects: missing the subject of shop.orders.OrderShipped (expected "orders.order.placed-value")${orders}`,
      `${at}[0].subjects.shop.orders.Other: not one of the topic's values${orders}`,
      `${at}[1].key.field: shop.orders.OrderPlaced has no string field "note"${lifecycle}`,
      `${at}[1].key.field: shop.orders.OrderShipped has no string field "note"${lifecycle}`,
      `${at}[2].name: duplicate topic "orders.order.lifecycle"`,
      `${at}[2].values[1]: duplicate value schema shop.orders.OrderShipped${lifecycle}`,
      `${at}[2].subjects.shop.orders.OrderPlaced: not one of the topic's values${lifecycle}`,
    ]);
  });

  test('invalid Avro, naming the file and avsc’s reason', () => {
    const badDefault = fixture({
      ...validFiles(),
      'orders/OrderShipped.avsc': {
        ...orderShipped,
        fields: [...orderShipped.fields, { name: 'carrier', type: ['null', 'string'], default: 'ups' }],
      },
    });
    assertFails(badDefault, 'SLUICE_CATALOGUE_SCHEMA_INVALID', [
      `${join(badDefault, 'orders/OrderShipped.avsc')}: invalid Avro schema: incompatible field default "ups" (invalid "null": "ups"), union defaults must match the first branch's type ("null")`,
    ]);
    const badEnum = fixture({
      ...validFiles(),
      'orders/OrderShipped.avsc': {
        ...orderShipped,
        fields: [
          { name: 'carrier', type: { type: 'enum', name: 'Carrier', symbols: ['UPS'], default: 'DHL' } },
        ],
      },
    });
    assertFails(badEnum, 'SLUICE_CATALOGUE_SCHEMA_INVALID', [
      `${join(badEnum, 'orders/OrderShipped.avsc')}: invalid Avro schema: invalid "shop.orders.Carrier" default: "DHL"`,
    ]);
  });

  test('a named type defined in another file, with a hint', () => {
    const dir = fixture({
      ...validFiles(),
      'orders/OrderShipped.avsc': {
        ...orderShipped,
        fields: [{ name: 'order', type: 'OrderPlaced', doc: 'The order.' }],
      },
    });
    assertFails(dir, 'SLUICE_CATALOGUE_SCHEMA_INVALID', [
      `${join(dir, 'orders/OrderShipped.avsc')}: invalid Avro schema: undefined type name: shop.orders.OrderPlaced (it is defined in orders/OrderPlaced.avsc; each .avsc file must define every named type it uses)`,
    ]);
  });

  test('an .avsc whose top level is not a named record with typed fields', () => {
    const dir = fixture({
      ...validFiles(),
      'orders/OrderShipped.avsc': { type: 'enum', name: 'OrderShipped', symbols: ['A'] },
      'orders/Refund.avsc': { type: 'record', name: 'Refund', fields: [{ name: 'amount' }] },
    });
    assertFails(dir, 'SLUICE_CATALOGUE_INVALID', [
      `${join(dir, 'orders/OrderShipped.avsc')}: type: must be "record": each .avsc file holds one top-level record`,
      `${join(dir, 'orders/OrderShipped.avsc')}: fields: missing`,
    ]);
  });

  test('a field without a type', () => {
    const dir = fixture({
      ...validFiles(),
      'orders/Refund.avsc': { type: 'record', name: 'Refund', fields: [{ name: 'amount' }] },
    });
    assertFails(dir, 'SLUICE_CATALOGUE_INVALID', [
      `${join(dir, 'orders/Refund.avsc')}: fields[0].type: missing`,
    ]);
  });

  test('a record in a file not named after it, or defined twice', () => {
    const misnamed = fixture({ ...validFiles(), 'orders/Shipped.avsc': orderShipped });
    assertFails(misnamed, 'SLUICE_CATALOGUE_INVALID', [
      `${join(misnamed, 'orders/Shipped.avsc')}: name: record shop.orders.OrderShipped must be in a file named OrderShipped.avsc`,
    ]);
    const twice = fixture({ ...validFiles(), 'archive/OrderShipped.avsc': orderShipped });
    assertFails(twice, 'SLUICE_CATALOGUE_INVALID', [
      `${join(twice, 'orders/OrderShipped.avsc')}: name: shop.orders.OrderShipped is already defined in ${join(twice, 'archive/OrderShipped.avsc')}`,
    ]);
  });
});

test('subjectName follows the Confluent strategies', () => {
  assert.equal(subjectName('TopicNameStrategy', 'a.b.c', 'x.Y'), 'a.b.c-value');
  assert.equal(subjectName('RecordNameStrategy', 'a.b.c', 'x.Y'), 'x.Y');
  assert.equal(subjectName('TopicRecordNameStrategy', 'a.b.c', 'x.Y'), 'a.b.c-x.Y');
});
