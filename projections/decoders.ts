import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Catalogue, loadCatalogue } from '../engine/catalogue/index.js';
import {
  AvroDeserializer,
  DecodeError,
  type RecordOrigin,
  type SchemaRegistryLike,
  schemaIdOf,
} from '../engine/codec/index.js';
import { SluiceError } from '../engine/errors.js';
import type { ValueDecoder } from '../engine/projection/index.js';
import type { SluiceEventMap, SluiceEventName } from '../schemas/generated/events.js';

// The checkout's schemas/: beside projections/ from source, two levels up from dist/projections/.
const schemasDir = ['../schemas', '../../schemas']
  .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
  .find((d) => existsSync(join(d, 'catalogue.json')))!;
let repoCatalogue: Catalogue | null = null;

/** The catalogue the read models are written against: their reader schemas. */
export function catalogue(): Catalogue {
  repoCatalogue ??= loadCatalogue(schemasDir);
  return repoCatalogue;
}

function readerSchema(name: SluiceEventName): Record<string, unknown> {
  const entry = catalogue().schemas.get(name);
  if (!entry) throw new SluiceError('SLUICE_READ_MODEL_UNKNOWN_EVENT', `${name} is not in the catalogue`);
  return entry.json;
}

/** Values of a single-type topic, decoded into the catalogue's schema of `name` whatever the writer's. */
export function eventDecoder<N extends SluiceEventName>(
  registry: SchemaRegistryLike,
  name: N,
): AvroDeserializer<SluiceEventMap[N]> {
  return new AvroDeserializer<SluiceEventMap[N]>(registry, readerSchema(name));
}

/** One event of a multi-type topic, tagged with its type so handlers can switch on it. */
export type TypedEvent<N extends SluiceEventName> = {
  [K in N]: { readonly type: K; readonly event: SluiceEventMap[K] };
}[N];

type Loaded = Awaited<ReturnType<AvroDeserializer['load']>>;

/**
 * Values of a multi-type topic (TopicRecordNameStrategy: `training.run.lifecycle`,
 * `models.champion.changed`): each writer schema's record name picks the reader schema it is
 * resolved into, once per schema id. A writer schema of another type is a decode failure, so
 * its records are dead-lettered rather than misread.
 */
export class EventTypeDecoder<N extends SluiceEventName> implements ValueDecoder<TypedEvent<N>> {
  private readonly writers: AvroDeserializer;
  private readonly readers = new Map<string, AvroDeserializer>();
  private readonly byId = new Map<number, { type: N; reader: AvroDeserializer }>();

  constructor(registry: SchemaRegistryLike, names: readonly N[]) {
    this.writers = new AvroDeserializer(registry);
    for (const name of names) this.readers.set(name, new AvroDeserializer(registry, readerSchema(name)));
  }

  isLoaded(id: number): boolean {
    return this.byId.has(id);
  }

  async load(id: number, origin: RecordOrigin = {}): Promise<Loaded> {
    const { writer } = await this.writers.load(id, origin);
    const type = writer.name as N | undefined;
    const reader = type === undefined ? undefined : this.readers.get(type);
    if (type === undefined || !reader) {
      throw new DecodeError(
        'unresolvable',
        `schema ${id} is ${type ?? 'not a named record'}, not one of ${[...this.readers.keys()].join(', ')}`,
        origin,
        id,
      );
    }
    const loaded = await reader.load(id, origin);
    this.byId.set(id, { type, reader });
    return loaded;
  }

  /** Loads the payload's writer schema when it is new, then decodes. */
  async decode(payload: Buffer, origin: RecordOrigin = {}): Promise<TypedEvent<N>> {
    const id = schemaIdOf(payload, origin);
    if (!this.byId.has(id)) await this.load(id, origin);
    return this.decodeSync(payload, origin);
  }

  decodeSync(payload: Buffer, origin: RecordOrigin = {}): TypedEvent<N> {
    const id = schemaIdOf(payload, origin);
    const known = this.byId.get(id);
    if (!known)
      throw new SluiceError('SLUICE_CODEC_NOT_READY', `schema ${id} is not loaded; await load(${id})`);
    return { type: known.type, event: known.reader.decodeSync(payload, origin) } as TypedEvent<N>;
  }
}
