import { createHash } from 'node:crypto';
import type { BlobStore } from '../../engine/blob/blobStore.js';
import type { SchemaRegistryLike } from '../../engine/codec/index.js';
import { Serdes, type StreamsBuilder } from '../../engine/topology/index.js';
import type { FeaturesComputed, PredictionMade } from '../../schemas/generated/events.js';
import { eventSerde, FEATURES_TOPIC } from './features.js';
import { InputShapeError, type Predictor, streamPredictionId, toPredictionMade } from './inference.js';
import { PREDICTIONS_TOPIC } from './predictionEvents.js';
import { tensorBytes, tensorFromBytes } from './preprocess.js';

export { PREDICTIONS_TOPIC };

export interface ImageInferenceOptions {
  registry: SchemaRegistryLike;
  blobs: BlobStore;
  /** The predictor (and through it the ModelSource) that POST /v1/predict uses too. */
  predictor: Predictor;
  /** The model whose champion predicts. */
  modelName: string;
  /**
   * How long one record waits for a champion when the model has none, in ms. Default 8,000:
   * under the runtime's default session timeout (10 s). See imageInference.
   */
  championWaitMs?: number;
  /** Records predicted at once per task; default 32 (a batch's worth: the batcher fills batches across them). */
  concurrency?: number;
  /** PredictionMade carries the k most probable classes; default all. */
  topK?: number;
}

/**
 * features → predictions: each `FeaturesComputed` of the model's feature set (the tensor inline
 * in `values` or in the blob store via `vector`) is predicted by the champion through the shared
 * Predictor (micro-batched with the HTTP requests, same cache) and becomes a `PredictionMade`
 * (servedBy STREAM) keyed by the subject, on `inference.prediction.made`. Features of another
 * feature set pass by: another model consumes them.
 *
 * Event time and ids come from the input: `occurredAt` is the features' and the prediction id
 * is a UUIDv5 of (features source, model, version), so a replay or a redelivery gives the same
 * id. The prediction itself (latency, batch size) is the one thing that is not a function of the
 * log: the champion at the time decides.
 *
 * No champion yet: the record waits (Kafka Streams' habit: do not consume past what cannot be
 * processed). Waiting records hold the async operator's slots, so the partition stops being
 * read and its offsets are not committed past them. This covers a start, while the model source
 * loads the champion. After `championWaitMs` the record is dead-lettered with
 * SLUICE_INFERENCE_NO_CHAMPION (the reason in its headers), so a pipeline deployed before its
 * first model neither holds its input nor hangs `app.close()` (which waits for the records in
 * flight); the dead letters can be replayed once a model is promoted. Keep the wait under the
 * app's session timeout: while a commit waits for these records, a new batch of the same task
 * waits for the commit without heartbeating, and a longer wait costs a rebalance (harmless
 * under exactly-once: nothing is duplicated, the task restarts from its last commit).
 * Other failures are dead-lettered with their reason too: a tensor missing from the blob store
 * (BlobNotFoundError), a tensor whose shape is not the model's (SLUICE_INFERENCE_INPUT_SHAPE).
 */
export function imageInference(builder: StreamsBuilder, opts: ImageInferenceOptions): void {
  const { predictor, modelName, blobs } = opts;
  const championWaitMs = opts.championWaitMs ?? 8_000;
  builder
    .stream(FEATURES_TOPIC, {
      key: Serdes.string(),
      value: eventSerde(opts.registry, FEATURES_TOPIC, 'sluice.features.FeaturesComputed'),
    })
    .mapAsync(
      async (features: FeaturesComputed): Promise<PredictionMade | null> => {
        const served = await predictor.waitForChampion(modelName, { timeoutMs: championWaitMs });
        if (features.featureSet !== served.featureSet) return null;
        if (!sameShape(features.shape, served.inputShape)) {
          throw new InputShapeError(
            `features of ${features.sourceId} have shape [${features.shape.join(', ')}]; model ${served.name} v${served.version} takes [${served.inputShape.join(', ')}]`,
          );
        }
        const { tensor, sha256 } = await featureTensor(features, blobs);
        const prediction = await predictor.predict(served, tensor, {
          cacheKey: `tensor:${sha256}`,
          predictionId: streamPredictionId(
            `${features.sourceKind}:${features.sourceId}:${features.featureSet}:${features.featureSetVersion}`,
            served.name,
            served.version,
          ),
        });
        return toPredictionMade(prediction, {
          subjectId: features.subjectId,
          servedBy: 'STREAM',
          occurredAt: features.occurredAt,
          topK: opts.topK,
        });
      },
      { concurrency: opts.concurrency ?? 32, name: 'predict' },
    )
    .filter((_, prediction) => prediction !== null, { name: 'model-feature-set' })
    .mapValues((prediction) => prediction as PredictionMade, { name: 'prediction' })
    .to(PREDICTIONS_TOPIC, {
      key: Serdes.string(),
      value: eventSerde(opts.registry, PREDICTIONS_TOPIC, 'sluice.inference.PredictionMade'),
    });
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The features' tensor and the SHA-256 of its FLOAT32_LE bytes (the blob's address when stored). */
async function featureTensor(
  features: FeaturesComputed,
  blobs: BlobStore,
): Promise<{ tensor: Float32Array; sha256: string }> {
  if (features.vector) {
    if (features.vector.encoding !== 'FLOAT32_LE') {
      throw new InputShapeError(
        `features of ${features.sourceId} are encoded ${features.vector.encoding}; inference reads FLOAT32_LE`,
      );
    }
    return {
      tensor: tensorFromBytes(await blobs.get(features.vector.sha256)),
      sha256: features.vector.sha256,
    };
  }
  if (features.values) {
    const tensor = Float32Array.from(features.values);
    return { tensor, sha256: createHash('sha256').update(tensorBytes(tensor)).digest('hex') };
  }
  throw new InputShapeError(`features of ${features.sourceId} carry neither values nor a vector`);
}
