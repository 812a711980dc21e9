import type { BlobStore } from '../../engine/blob/blobStore.js';
import type { SchemaRegistryLike } from '../../engine/codec/index.js';
import { avroSerde, Serdes, type StreamsBuilder } from '../../engine/topology/index.js';
import { catalogue } from '../../projections/decoders.js';
import type {
  FeaturesComputed,
  SluiceEventMap,
  SluiceEventName,
  UploadReceived,
} from '../../schemas/generated/events.js';
import { UPLOADS_TOPIC } from './ingest.js';
import {
  DEFAULT_RECIPE,
  type ImageRecipe,
  preprocessImage,
  recipeDescription,
  tensorBytes,
} from './preprocess.js';

export { UPLOADS_TOPIC };
export const FEATURES_TOPIC = 'features.vector.computed';

/** The catalogue's serde of one event type on its topic (writer and reader: the catalogue's schema). */
export function eventSerde<N extends SluiceEventName>(registry: SchemaRegistryLike, topic: string, name: N) {
  const spec = catalogue().topic(topic);
  const subject = spec.subjects.find((s) => s.fullName === name)?.subject;
  const entry = catalogue().schemas.get(name);
  if (!subject || !entry) throw new Error(`${name} is not a value of ${topic} in the catalogue`);
  return avroSerde<SluiceEventMap[N]>(registry, { subject, schema: entry.json });
}

export interface ImageFeaturesOptions {
  registry: SchemaRegistryLike;
  blobs: BlobStore;
  recipe?: ImageRecipe;
  /** Feature set name; default `image-<width>x<height>-rgb`. Bump `featureSetVersion` when the recipe changes. */
  featureSet?: string;
  featureSetVersion?: number;
  /**
   * Tensors of at most this many values travel inline in the event; larger ones (a 224x224
   * image is 150,528 values) are stored in the blob store and referenced. Default 4096.
   */
  inlineMaxValues?: number;
  /** Images decoded at once (sharp runs on libuv's thread pool); default 4. */
  concurrency?: number;
}

/**
 * uploads → features: each image upload's bytes from the blob store, through the shared recipe
 * (preprocessImage), to a `FeaturesComputed` keyed by the subject. Uploads that are not images
 * pass by. A blob that is missing or does not decode fails its record, which the runtime
 * dead-letters with the reason: the stream goes on.
 */
export function imageFeatures(builder: StreamsBuilder, opts: ImageFeaturesOptions): void {
  const recipe = opts.recipe ?? DEFAULT_RECIPE;
  const featureSet = opts.featureSet ?? `image-${recipe.width}x${recipe.height}-rgb`;
  const featureSetVersion = opts.featureSetVersion ?? 1;
  const inlineMax = opts.inlineMaxValues ?? 4096;
  const preprocessing = recipeDescription(recipe);
  builder
    .stream(UPLOADS_TOPIC, {
      key: Serdes.string(),
      value: eventSerde(opts.registry, UPLOADS_TOPIC, 'sluice.ingest.UploadReceived'),
    })
    .filter((_, upload: UploadReceived) => upload.contentType.startsWith('image/'), { name: 'image-uploads' })
    .mapAsync(
      async (upload: UploadReceived): Promise<FeaturesComputed> => {
        const image = await preprocessImage(await opts.blobs.get(upload.sha256), recipe);
        const inline = image.tensor.length <= inlineMax;
        const stored = inline ? null : await opts.blobs.put(tensorBytes(image.tensor));
        return {
          subjectId: upload.subjectId,
          sourceKind: 'UPLOAD',
          sourceId: upload.uploadId,
          featureSet,
          featureSetVersion,
          shape: image.shape,
          columns: [],
          values: inline ? Array.from(image.tensor) : null,
          vector: stored
            ? { uri: stored.uri, sha256: stored.sha256, sizeBytes: stored.sizeBytes, encoding: 'FLOAT32_LE' }
            : null,
          preprocessing,
          summary: image.summary,
          occurredAt: upload.occurredAt,
        };
      },
      { concurrency: opts.concurrency ?? 4, name: 'preprocess-image' },
    )
    .to(FEATURES_TOPIC, {
      key: Serdes.string(),
      value: eventSerde(opts.registry, FEATURES_TOPIC, 'sluice.features.FeaturesComputed'),
    });
}
