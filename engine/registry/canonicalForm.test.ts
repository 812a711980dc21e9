import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import avro from 'avsc';
import fc from 'fast-check';
import { parseAvro, parsingCanonicalForm, registryCanonicalForm } from './canonicalForm.js';
import { RegistryError } from './errors.js';

type Schema = unknown;

const primitive = fc.constantFrom('null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string');

/** Random Avro schemas: nested records, enums, fixed, arrays, maps and nullable unions. */
const schemas = fc
  .letrec<{ schema: Schema; record: Schema }>((tie) => ({
    schema: fc.oneof(
      { depthSize: 'small' },
      primitive,
      tie('record'),
      fc.constant({ type: 'enum', symbols: ['A', 'B'] }),
      fc.constant({ type: 'fixed', size: 4 }),
      tie('schema').map((items) => ({ type: 'array', items })),
      tie('schema').map((values) => ({ type: 'map', values })),
    ),
    record: fc
      .record({
        namespace: fc.option(fc.constantFrom('com.acme', 'org.x.y'), { nil: undefined }),
        fields: fc.array(fc.record({ type: tie('schema'), nullable: fc.boolean() }), { maxLength: 4 }),
      })
      .map(({ namespace, fields }) => ({
        type: 'record',
        ...(namespace ? { namespace } : {}),
        fields: fields.map(({ type, nullable }, i) => ({
          name: `f${i}`,
          type: nullable && type !== 'null' ? ['null', type] : type,
        })),
      })),
  }))
  .record.map(nameTypes);

/** Gives every named type a unique name. */
function nameTypes(schema: Schema): Schema {
  let n = 0;
  const walk = (s: Schema): Schema => {
    if (Array.isArray(s)) return s.map(walk);
    if (typeof s !== 'object' || s === null) return s;
    const o = { ...(s as Record<string, unknown>) };
    if (['record', 'enum', 'fixed'].includes(o.type as string)) o.name = `T${n++}`;
    if (o.fields)
      o.fields = (o.fields as Record<string, unknown>[]).map((f) => ({ ...f, type: walk(f.type) }));
    if (o.items) o.items = walk(o.items);
    if (o.values) o.values = walk(o.values);
    return o;
  };
  return walk(schema);
}

/** Docs everywhere, keys in reverse order: what must not change a schema's identity. */
function decorate(s: Schema): Schema {
  if (Array.isArray(s)) return s.map(decorate);
  if (typeof s !== 'object' || s === null) return s;
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s as Record<string, unknown>).reverse()) {
    o[k] =
      k === 'fields'
        ? (v as Schema[]).map((f) => ({ doc: 'a field', ...(decorate(f) as object) }))
        : decorate(v);
  }
  if (['record', 'enum', 'fixed'].includes(o.type as string)) o.doc = 'documented';
  return o;
}

describe('parsingCanonicalForm', () => {
  it('follows the Avro specification on its examples', () => {
    assert.equal(parsingCanonicalForm('"int"'), '"int"');
    assert.equal(parsingCanonicalForm({ type: 'int' }), '"int"');
    assert.equal(
      parsingCanonicalForm({
        fields: [
          { type: { type: 'fixed', size: 16, name: 'md5' }, name: 'hash', doc: 'x' },
          { name: 'again', type: 'md5', default: 'aaaaaaaaaaaaaaaa' },
        ],
        name: 'Digest',
        namespace: 'org.acme',
        doc: 'a digest',
        type: 'record',
      }),
      '{"name":"org.acme.Digest","type":"record","fields":[{"name":"hash","type":{"name":"org.acme.md5","type":"fixed","size":16}},{"name":"again","type":"org.acme.md5"}]}',
    );
  });

  it('equals avsc’s canonical schema for random schemas, and ignores docs and key order', () => {
    fc.assert(
      fc.property(schemas, (schema) => {
        const expected = JSON.stringify(avro.Type.forSchema(schema as avro.Schema).schema());
        assert.equal(parsingCanonicalForm(schema as object), expected);
        assert.equal(parsingCanonicalForm(decorate(schema) as object), expected);
        assert.equal(
          registryCanonicalForm(decorate(schema) as object),
          registryCanonicalForm(schema as object),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe('registryCanonicalForm', () => {
  const base = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }] };
  const variant = (field: Record<string, unknown>) => ({
    ...base,
    fields: [{ name: 'a', type: 'long', ...field }],
  });

  it('keeps what changes how readers resolve data', () => {
    const forms = [
      base,
      variant({ default: 0 }),
      variant({ aliases: ['b'] }),
      variant({ order: 'descending' }),
      variant({ type: { type: 'long', logicalType: 'timestamp-millis' } }),
      { ...base, aliases: ['Old'] },
    ].map((s) => registryCanonicalForm(s));
    assert.equal(new Set(forms).size, forms.length);
    assert.equal(
      forms[4],
      '{"name":"R","type":"record","fields":[{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"}}]}',
    );
  });

  it('normalises those attributes: sorted qualified aliases, default order', () => {
    assert.equal(registryCanonicalForm(variant({ order: 'ascending' })), registryCanonicalForm(base));
    assert.equal(
      registryCanonicalForm({ ...base, namespace: 'n', aliases: ['Z', 'm.A'] }),
      '{"name":"n.R","type":"record","fields":[{"name":"a","type":"long"}],"aliases":["m.A","n.Z"]}',
    );
    const rec = {
      type: 'record',
      name: 'P',
      fields: [
        { name: 'x', type: 'int' },
        { name: 'y', type: 'int' },
      ],
    };
    const withDefault = (d: unknown) => ({
      type: 'record',
      name: 'Q',
      fields: [{ name: 'p', type: rec, default: d }],
    });
    assert.equal(
      registryCanonicalForm(withDefault({ x: 1, y: 2 })),
      registryCanonicalForm(withDefault({ y: 2, x: 1 })),
    );
  });
});

describe('parseAvro', () => {
  it('rejects invalid schemas with 42201 and the parser’s message', () => {
    for (const [text, message] of [
      ['{"type":"record"', /^Invalid schema: not JSON: /],
      [
        '{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}',
        /^Invalid schema: undefined type name: nope$/,
      ],
      ['{"type":"enum","name":"E","symbols":["A","A"]}', /^Invalid schema: duplicate "E" symbol: "A"$/],
    ] as const) {
      assert.throws(
        () => parseAvro(text),
        (err: unknown) =>
          err instanceof RegistryError && err.errorCode === 42201 && message.test(err.message),
      );
    }
  });

  it('stores the text compactly, keeping docs', () => {
    const parsed = parseAvro('{ "type": "record", "name": "R", "doc": "d", "fields": [] }');
    assert.equal(parsed.text, '{"type":"record","name":"R","doc":"d","fields":[]}');
    assert.equal(parsed.canonical, '{"name":"R","type":"record","fields":[]}');
  });
});
