import type { LayersModel } from '@tensorflow/tfjs';

/** A registered model version loaded and ready to predict. */
export interface ServedModel {
  name: string;
  version: number;
  model: LayersModel;
  /** Class names in output order. */
  classLabels: string[];
  /** The feature set the model consumes, e.g. `image-224x224-rgb`. */
  featureSet: string;
  /** Input shape without the batch dimension, e.g. [224, 224, 3]. */
  inputShape: number[];
}

/**
 * Where inference gets the model to serve: the registry's champion of each model name, kept
 * current from the registry's events (registration, promotion, rollback). Inference holds the
 * ServedModel it started a batch with until the batch is done, so a swap never fails a request.
 */
export interface ModelSource {
  /** The champion of `name` now, or null when the model has none yet. */
  champion(name: string): ServedModel | null;
  /** Called after the champion of a model changed; returns a function that unsubscribes. */
  onChange(listener: (name: string, served: ServedModel | null) => void): () => void;
}
