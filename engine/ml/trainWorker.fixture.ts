/** Model builders for trainWorker.test.ts, loaded by the training thread from this module. */
import * as tf from '@tensorflow/tfjs';
import type { ModelBuilder } from './trainWorker.js';

/** dense(hidden, relu) → dense(classes, softmax) on `inputs` features, initialised from `seed`. */
export const denseClassifier: ModelBuilder<{ inputs: number; hidden: number; classes: number }> = (
  arg,
  { seed },
) =>
  tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [arg.inputs],
        units: arg.hidden,
        activation: 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed }),
      }),
      tf.layers.dropout({ rate: 0.1 }),
      tf.layers.dense({ units: arg.classes, activation: 'softmax' }),
    ],
  });

/** Not a builder: for the error path. */
export const notABuilder = 42;
