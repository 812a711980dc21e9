import {
  AvroDeserializer,
  AvroSerializer,
  type SchemaInput,
  type SchemaRegistryLike,
  schemaIdOf,
} from '../../codec/index.js';
import { SluiceError } from '../../errors.js';
import type { Serde } from '../contracts.js';

export interface AvroSerdeOptions {
  /** Subject the serializer registers (or looks up) its schema under, e.g. `<topic>-value`. */
  subject: string;
  /** The schema values are written with. */
  schema: SchemaInput;
  /** The schema values are read as (default: `schema`); writers' schemas are resolved to it. */
  reader?: SchemaInput;
  /** Register `schema` on first use (default); otherwise it must already be registered. */
  autoRegister?: boolean;
}

/**
 * Confluent-framed Avro over a schema registry, as a topology serde. Registry work happens in
 * `prepare`, which tasks await before `deserialize`: `prepare(bytes)` loads the writer schema
 * of the payload's id; `prepare(null)` resolves the serializer's own schema id (registering it
 * unless `autoRegister` is false). `serialize` is synchronous, so a serde that writes (a sink's,
 * a store's) must be prepared once before the topology runs: `await serde.prepare?.(null, topic)`.
 * Reading never registers anything. Undecodable bytes throw the codec's DecodeError (bad magic,
 * truncated, unknown schema id, invalid body), which tasks dead-letter as `deserialization`
 * failures. Null bytes and null values map to each other.
 */
export function avroSerde<T>(registry: SchemaRegistryLike, opts: AvroSerdeOptions): Serde<T> {
  const serializer = new AvroSerializer<T>(registry, opts.subject, opts.schema, opts.autoRegister ?? true);
  const deserializer = new AvroDeserializer<T>(registry, opts.reader ?? opts.schema);
  let serializerReady = false;

  /** The writer schema `bytes` need loaded, or null (loaded already, or not framed: deserialize says why). */
  const writerToLoad = (bytes: Buffer): number | null => {
    let id: number;
    try {
      id = schemaIdOf(bytes);
    } catch {
      return null;
    }
    return deserializer.isLoaded(id) ? null : id;
  };

  return {
    serialize: (value) => {
      if (value === null || value === undefined) return null;
      if (!serializerReady) {
        throw new SluiceError(
          'SLUICE_CODEC_NOT_READY',
          `avro serde for ${opts.subject}: await serde.prepare(null, topic) before serializing`,
        );
      }
      return serializer.encodeSync(value);
    },
    deserialize: (bytes, topic) => (bytes === null ? (null as T) : deserializer.decodeSync(bytes, { topic })),
    prepare: (bytes, topic) => {
      if (bytes === null) {
        if (serializerReady) return undefined;
        return serializer.schemaId().then(() => {
          serializerReady = true;
        });
      }
      const id = writerToLoad(bytes);
      if (id === null) return undefined;
      return deserializer.load(id, { topic }).then(() => undefined);
    },
  };
}
