import avro from 'avsc';
import { SluiceError } from '../errors.js';
import { DecodeError, EncodeError, type RecordOrigin } from './errors.js';

/** What the codec needs of a schema registry (engine/registry's RegistryClient fits). */
export interface SchemaRegistryLike {
  getSchemaById(id: number): Promise<string>;
  register(subject: string, schema: string): Promise<number>;
  lookup(subject: string, schema: string): Promise<{ id: number; version: number } | null>;
}

const MAGIC = 0;
const HEADER = 5;

export type SchemaInput = string | object | avro.Type;

export function parseSchema(schema: SchemaInput): avro.Type {
  if (avro.Type.isType(schema)) return schema as avro.Type;
  return avro.Type.forSchema(typeof schema === 'string' ? JSON.parse(schema) : (schema as avro.Schema));
}

/** The text registered for a schema: as written, docs included, so readers of the registry see them. */
function schemaText(schema: SchemaInput): string {
  if (avro.Type.isType(schema)) return JSON.stringify((schema as avro.Type).schema({ exportAttrs: true }));
  return typeof schema === 'string' ? schema : JSON.stringify(schema);
}

/** The schema id of a Confluent-framed payload, or a DecodeError. */
export function schemaIdOf(payload: Buffer, origin: RecordOrigin = {}): number {
  if (payload.length < HEADER) {
    throw new DecodeError('truncated', `${payload.length} bytes, shorter than the 5-byte header`, origin);
  }
  if (payload[0] !== MAGIC)
    throw new DecodeError('bad-magic', `magic byte ${payload[0]}, expected 0`, origin);
  return payload.readInt32BE(1);
}

/** Finds the field at fault in an invalid value, as `a.b[2].c`. */
function invalidPath(type: avro.Type, value: unknown): string | null {
  let path: string | null = null;
  type.isValid(value, {
    errorHook: (parts: string[]) => {
      path ??= parts.length === 0 ? '' : parts.join('.');
    },
  });
  return path;
}

/**
 * Encodes values of one schema under one subject in the Confluent wire format (magic 0,
 * 4-byte big-endian schema id, Avro body). The id is resolved once (registered, or looked
 * up when auto-registration is off) and cached.
 */
export class AvroSerializer<T = unknown> {
  readonly type: avro.Type;
  private readonly schemaJson: string;
  private id: number | null = null;
  private idPromise: Promise<number> | null = null;
  private scratch = Buffer.allocUnsafe(4096);

  constructor(
    private readonly registry: SchemaRegistryLike,
    readonly subject: string,
    schema: SchemaInput,
    private readonly autoRegister = true,
  ) {
    this.type = parseSchema(schema);
    this.schemaJson = schemaText(schema);
  }

  /** The schema text registered under the subject. */
  get schema(): string {
    return this.schemaJson;
  }

  /** The schema id, registering or looking it up on first use. */
  schemaId(): Promise<number> {
    if (this.id !== null) return Promise.resolve(this.id);
    this.idPromise ??= (async () => {
      if (this.autoRegister) return this.registry.register(this.subject, this.schemaJson);
      const found = await this.registry.lookup(this.subject, this.schemaJson);
      if (!found) {
        throw new SluiceError(
          'SLUICE_CODEC_SCHEMA_NOT_REGISTERED',
          `schema is not registered under ${this.subject}`,
        );
      }
      return found.id;
    })().then(
      (id) => {
        this.id = id;
        return id;
      },
      (err) => {
        this.idPromise = null;
        throw err;
      },
    );
    return this.idPromise;
  }

  async encode(value: T): Promise<Buffer> {
    return this.encodeWithId(await this.schemaId(), value);
  }

  /** Synchronous encode once `schemaId()` has resolved (hot loops). */
  encodeSync(value: T): Buffer {
    if (this.id === null)
      throw new SluiceError('SLUICE_CODEC_NOT_READY', 'await schemaId() before encodeSync()');
    return this.encodeWithId(this.id, value);
  }

  private encodeWithId(id: number, value: T): Buffer {
    let end: number;
    try {
      end = this.type.encode(value, this.scratch, HEADER);
      if (end < 0) {
        // avsc answers a short buffer with -(bytes missing): the value needs length - end bytes.
        this.scratch = Buffer.allocUnsafe(Math.max(this.scratch.length - end, this.scratch.length * 2));
        end = this.type.encode(value, this.scratch, HEADER);
      }
    } catch (err) {
      const path = invalidPath(this.type, value);
      throw new EncodeError(
        `value does not match ${this.subject}${path ? ` at field ${path}` : ''}: ${(err as Error).message}`,
        path,
        err,
      );
    }
    const out = Buffer.allocUnsafe(end);
    out[0] = MAGIC;
    out.writeInt32BE(id, 1);
    this.scratch.copy(out, HEADER, HEADER, end);
    return out;
  }
}

interface Reading {
  writer: avro.Type;
  resolver: avro.Resolver | null;
}

/**
 * Decodes Confluent-framed Avro into the consumer's own reader schema: the writer's schema
 * is fetched by id once, and a resolver from writer to reader is built once per id. Without
 * a reader schema, values decode with the writer's schema.
 */
export class AvroDeserializer<T = unknown> {
  readonly readerType: avro.Type | null;
  private readings = new Map<number, Reading>();
  private pending = new Map<number, Promise<Reading>>();

  constructor(
    private readonly registry: SchemaRegistryLike,
    readerSchema?: SchemaInput,
  ) {
    this.readerType = readerSchema === undefined ? null : parseSchema(readerSchema);
  }

  /** Not `async`: a cached schema decodes without an extra microtask hop. */
  decode(payload: Buffer, origin: RecordOrigin = {}): Promise<T> {
    try {
      const id = schemaIdOf(payload, origin);
      const reading = this.readings.get(id);
      if (reading) return Promise.resolve(this.decodeWith(reading, id, payload, origin));
      return this.load(id, origin).then((r) => this.decodeWith(r, id, payload, origin));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Synchronous decode when the writer schema is already loaded (`await load(id)` first). */
  decodeSync(payload: Buffer, origin: RecordOrigin = {}): T {
    const id = schemaIdOf(payload, origin);
    const reading = this.readings.get(id);
    if (!reading)
      throw new SluiceError('SLUICE_CODEC_NOT_READY', `schema ${id} is not loaded; await load(${id})`);
    return this.decodeWith(reading, id, payload, origin);
  }

  isLoaded(id: number): boolean {
    return this.readings.has(id);
  }

  /** The type values come out as for payloads of schema `id`: the reader's, else the writer's. */
  async valueType(id: number): Promise<avro.Type> {
    return this.readerType ?? (await this.load(id)).writer;
  }

  load(id: number, origin: RecordOrigin = {}): Promise<Reading> {
    const known = this.readings.get(id);
    if (known) return Promise.resolve(known);
    let p = this.pending.get(id);
    if (!p) {
      p = this.fetch(id, origin).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }

  private async fetch(id: number, origin: RecordOrigin): Promise<Reading> {
    let schema: string;
    try {
      schema = await this.registry.getSchemaById(id);
    } catch (err) {
      const e = err as { retriable?: boolean; status?: number };
      if (e.retriable) {
        throw new DecodeError(
          'registry-unavailable',
          `registry unavailable for schema ${id}`,
          origin,
          id,
          err,
        );
      }
      throw new DecodeError('unknown-schema', `schema id ${id} is not in the registry`, origin, id, err);
    }
    const writer = parseSchema(schema);
    let resolver: avro.Resolver | null = null;
    // The same schema on both sides (the common case) needs no resolution at all.
    if (this.readerType && !this.readerType.equals(writer)) {
      try {
        resolver = this.readerType.createResolver(writer);
      } catch (err) {
        throw new DecodeError(
          'unresolvable',
          `writer schema ${id} cannot be read as ${this.readerType.name ?? 'the reader schema'}: ${(err as Error).message}`,
          origin,
          id,
          err,
        );
      }
    }
    const reading = { writer, resolver };
    this.readings.set(id, reading);
    return reading;
  }

  private decodeWith(reading: Reading, id: number, payload: Buffer, origin: RecordOrigin): T {
    const type = reading.resolver ? this.readerType! : (this.readerType ?? reading.writer);
    let decoded: { value: unknown; offset: number };
    try {
      // Decoding in place after the header saves a Buffer view per record.
      decoded = type.decode(payload, HEADER, reading.resolver ?? undefined);
    } catch (err) {
      throw new DecodeError('invalid-body', `schema ${id}: ${(err as Error).message}`, origin, id, err);
    }
    if (decoded.offset < 0) throw new DecodeError('truncated', `schema ${id}: truncated buffer`, origin, id);
    if (decoded.offset !== payload.length) {
      throw new DecodeError('invalid-body', `schema ${id}: trailing data`, origin, id);
    }
    return decoded.value as T;
  }
}
