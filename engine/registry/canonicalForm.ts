import avro from 'avsc';
import { RegistryError } from './errors.js';

/**
 * Avro schema identity. `parsingCanonicalForm` is the Avro specification's Parsing Canonical
 * Form (PCF): fullnames, only the attributes that shape the binary encoding, a fixed key order,
 * no whitespace. The registry deduplicates on `registryCanonicalForm`, which is PCF plus the
 * attributes that change what a reader does with the data — field defaults, aliases, sort
 * order and logical types. Two schemas that differ only in whitespace, key order, `doc` or
 * custom properties therefore share one id, while a schema that adds a default (or turns a
 * `long` into a `timestamp-millis`) is a different schema, as it is for its readers.
 */

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']);
const NAMED = new Set(['record', 'error', 'enum', 'fixed']);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

interface Walk {
  /** Keep reader-relevant attributes (registry form) or strip them (strict PCF). */
  extended: boolean;
  defined: Set<string>;
}

const q = (s: string): string => JSON.stringify(s);

/** JSON with object keys sorted, so two equal default values print the same. */
function stableJson(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${q(k)}:${stableJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function fullname(name: string, namespace: string | undefined): string {
  if (name.includes('.') || !namespace) return name;
  return `${namespace}.${name}`;
}

function namespaceOf(full: string): string | undefined {
  const i = full.lastIndexOf('.');
  return i < 0 ? undefined : full.slice(0, i);
}

function asObject(v: Json): JsonObject {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new Error(`not a schema: ${q(String(v))}`);
  return v;
}

/** `,"aliases":[...],"logicalType":...` — the reader-relevant attributes, in a fixed order. */
function extras(s: JsonObject, w: Walk, ns: string | undefined, keys: string[]): string {
  if (!w.extended) return '';
  let out = '';
  for (const k of keys) {
    const v = s[k];
    if (v === undefined) continue;
    if (k === 'default') out += `,"default":${stableJson(v)}`;
    else if (k === 'aliases' && Array.isArray(v) && v.length > 0) {
      const names = v.map((a) => fullname(String(a), ns));
      out += `,"aliases":[${[...new Set(names)].sort().map(q).join(',')}]`;
    } else if (k === 'order' && v !== 'ascending') out += `,"order":${q(String(v))}`;
    else if (k === 'logicalType' || k === 'precision' || k === 'scale') out += `,${q(k)}:${stableJson(v)}`;
  }
  return out;
}

function write(s: Json, ns: string | undefined, w: Walk): string {
  if (typeof s === 'string') return q(PRIMITIVES.has(s) ? s : fullname(s, ns));
  if (Array.isArray(s)) return `[${s.map((b) => write(b, ns, w)).join(',')}]`;
  const o = asObject(s);
  const type = o.type;
  if (typeof type !== 'string') return write(type ?? null, ns, w);
  if (PRIMITIVES.has(type)) {
    const more = extras(o, w, ns, ['logicalType', 'precision', 'scale']);
    return more === '' ? q(type) : `{"type":${q(type)}${more}}`;
  }
  if (type === 'array') return `{"type":"array","items":${write(o.items ?? null, ns, w)}}`;
  if (type === 'map') return `{"type":"map","values":${write(o.values ?? null, ns, w)}}`;
  if (!NAMED.has(type)) return q(fullname(type, ns));

  if (typeof o.name !== 'string') throw new Error(`${type} without a name`);
  const full = fullname(o.name, typeof o.namespace === 'string' && o.namespace !== '' ? o.namespace : ns);
  if (w.defined.has(full)) return q(full);
  w.defined.add(full);
  const inner = namespaceOf(full);
  const head = `{"name":${q(full)},"type":${q(type)}`;
  if (type === 'enum') {
    const symbols = Array.isArray(o.symbols) ? o.symbols : [];
    return `${head},"symbols":[${symbols.map((x) => q(String(x))).join(',')}]${extras(o, w, inner, ['default', 'aliases'])}}`;
  }
  if (type === 'fixed') {
    return `${head},"size":${Number(o.size)}${extras(o, w, inner, ['aliases', 'logicalType', 'precision', 'scale'])}}`;
  }
  const fields = Array.isArray(o.fields) ? o.fields : [];
  const body = fields.map((f) => {
    const field = asObject(f);
    const name = `{"name":${q(String(field.name))},"type":${write(field.type ?? null, inner, w)}`;
    return `${name}${extras(field, w, undefined, ['default', 'aliases', 'order'])}}`;
  });
  return `${head},"fields":[${body.join(',')}]${extras(o, w, inner, ['aliases'])}}`;
}

/** The Avro specification's Parsing Canonical Form of a schema (text or parsed JSON). */
export function parsingCanonicalForm(schema: string | object): string {
  const json = (typeof schema === 'string' ? JSON.parse(schema) : schema) as Json;
  return write(json, undefined, { extended: false, defined: new Set() });
}

/** PCF plus defaults, aliases, sort order and logical types: the registry's identity of a schema. */
export function registryCanonicalForm(schema: string | object): string {
  const json = (typeof schema === 'string' ? JSON.parse(schema) : schema) as Json;
  return write(json, undefined, { extended: true, defined: new Set() });
}

/** A schema the registry accepted: its avsc type, its identity and the text it stores. */
export interface ParsedAvro {
  type: avro.Type;
  canonical: string;
  /** The submitted schema as compact JSON (whitespace removed, everything else kept). */
  text: string;
}

/** Parses and validates an Avro schema; RegistryError 42201 with avsc's message when invalid. */
export function parseAvro(schema: string): ParsedAvro {
  let json: unknown;
  try {
    json = JSON.parse(schema);
  } catch (err) {
    throw RegistryError.invalidSchema(`Invalid schema: not JSON: ${(err as Error).message}`, err);
  }
  try {
    const type = avro.Type.forSchema(json as avro.Schema);
    return { type, canonical: registryCanonicalForm(json as object), text: JSON.stringify(json) };
  } catch (err) {
    throw RegistryError.invalidSchema(`Invalid schema: ${(err as Error).message}`, err);
  }
}
