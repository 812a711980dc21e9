import avro from 'avsc';
import { SluiceError } from '../errors.js';

/** A JSON value that does not fit a schema; `path` names the field at fault (`a.b[2]`). */
export class PlainJsonError extends SluiceError {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super('SLUICE_CODEC_INVALID_JSON', `${path ? `field '${path}'` : 'value'}: ${detail}`);
  }
}

/**
 * `timestamp-millis` / `timestamp-micros` kept as plain numbers, as the rest of the engine
 * reads them; parsed this way the console tools can tell a timestamp from another long.
 */
class TimestampType extends avro.types.LogicalType {
  override _fromValue(v: unknown): unknown {
    return v;
  }
  override _toValue(v: unknown): unknown {
    return v;
  }
  override _resolve(type: avro.Type): ((v: unknown) => unknown) | undefined {
    return avro.Type.isType(type, 'long', 'int', 'logical:timestamp-millis', 'logical:timestamp-micros')
      ? (v) => v
      : undefined;
  }
}

export const plainJsonLogicalTypes = {
  'timestamp-millis': TimestampType,
  'timestamp-micros': TimestampType,
};

/** Parses a schema so plain-JSON conversion knows its timestamps. */
export function parseForJson(schema: string | object): avro.Type {
  const json = typeof schema === 'string' ? JSON.parse(schema) : schema;
  return avro.Type.forSchema(json, { logicalTypes: plainJsonLogicalTypes });
}

const describe = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : `${typeof v} ${JSON.stringify(v)}`;

/**
 * Turns plain JSON (as other teams write it) into a value of `type`: unions are resolved by
 * the value, not Avro's `{"branch": value}` wrapping; missing fields take their defaults;
 * timestamps may be epoch numbers or ISO-8601 strings; bytes and fixed are Avro-JSON
 * strings (one char per byte, code points 0-255).
 */
export function fromPlainJson(type: avro.Type, input: unknown, path = ''): unknown {
  const at = (key: string | number) =>
    typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
  if (type instanceof avro.types.LogicalType) {
    const name = type.typeName;
    if (name.startsWith('logical:timestamp') && typeof input === 'string') {
      const ms = Date.parse(input);
      if (Number.isNaN(ms))
        throw new PlainJsonError(
          path,
          `expected a timestamp (epoch millis or ISO-8601), got ${describe(input)}`,
        );
      return name.endsWith('micros') ? ms * 1000 : ms;
    }
    return fromPlainJson(type.underlyingType, input, path);
  }
  if (type instanceof avro.types.RecordType) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new PlainJsonError(path, `expected an object for ${type.name}, got ${describe(input)}`);
    }
    const obj = input as Record<string, unknown>;
    const known = new Set(type.fields.map((f) => f.name));
    for (const k of Object.keys(obj))
      if (!known.has(k)) throw new PlainJsonError(at(k), 'is not in the schema');
    const out: Record<string, unknown> = {};
    for (const f of type.fields) {
      if (f.name in obj) out[f.name] = fromPlainJson(f.type, obj[f.name], at(f.name));
      else if (f.defaultValue() !== undefined) out[f.name] = f.defaultValue();
      else throw new PlainJsonError(at(f.name), 'is required and has no default');
    }
    return type.clone(out);
  }
  if (type instanceof avro.types.UnwrappedUnionType || type instanceof avro.types.WrappedUnionType) {
    const branches = (type as unknown as { types: avro.Type[] }).types;
    const errors: string[] = [];
    for (const branch of branches) {
      try {
        const v = fromPlainJson(branch, input, path);
        if (!branch.isValid(v)) continue;
        if (type instanceof avro.types.WrappedUnionType)
          return v === null ? null : { [branch.branchName!]: v };
        return v;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new PlainJsonError(
      path,
      `${describe(input)} matches none of ${branches.map((b) => b.branchName).join(', ')}${errors.length ? ` (${errors[0]})` : ''}`,
    );
  }
  if (type instanceof avro.types.ArrayType) {
    if (!Array.isArray(input)) throw new PlainJsonError(path, `expected an array, got ${describe(input)}`);
    return input.map((v, i) => fromPlainJson(type.itemsType, v, at(i)));
  }
  if (type instanceof avro.types.MapType) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new PlainJsonError(path, `expected an object (map), got ${describe(input)}`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) out[k] = fromPlainJson(type.valuesType, v, at(k));
    return out;
  }
  if (type instanceof avro.types.BytesType || type instanceof avro.types.FixedType) {
    if (typeof input !== 'string')
      throw new PlainJsonError(path, `expected a string of bytes, got ${describe(input)}`);
    const buf = Buffer.from(input, 'latin1');
    if (type instanceof avro.types.FixedType && buf.length !== type.size) {
      throw new PlainJsonError(path, `expected ${type.size} bytes, got ${buf.length}`);
    }
    return buf;
  }
  if (!type.isValid(input))
    throw new PlainJsonError(path, `expected ${type.typeName}, got ${describe(input)}`);
  return input;
}

/** The reverse, for printing: unions unwrapped, bytes as Avro-JSON strings. */
export function toPlainJson(type: avro.Type, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type instanceof avro.types.LogicalType) return toPlainJson(type.underlyingType, value);
  if (type instanceof avro.types.RecordType) {
    const out: Record<string, unknown> = {};
    for (const f of type.fields)
      out[f.name] = toPlainJson(f.type, (value as Record<string, unknown>)[f.name]);
    return out;
  }
  if (type instanceof avro.types.WrappedUnionType) {
    const [branch, v] = Object.entries(value as object)[0];
    const t = (type as unknown as { types: avro.Type[] }).types.find((b) => b.branchName === branch)!;
    return toPlainJson(t, v);
  }
  if (type instanceof avro.types.UnwrappedUnionType) {
    const t = (type as unknown as { types: avro.Type[] }).types.find((b) => b.isValid(value))!;
    return toPlainJson(t, value);
  }
  if (type instanceof avro.types.ArrayType)
    return (value as unknown[]).map((v) => toPlainJson(type.itemsType, v));
  if (type instanceof avro.types.MapType) {
    return Object.fromEntries(
      Object.entries(value as object).map(([k, v]) => [k, toPlainJson(type.valuesType, v)]),
    );
  }
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  return value;
}
