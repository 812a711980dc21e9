/**
 * The model builders training threads load (engine/ml/trainWorker.ts): a module of its own so
 * a thread imports only what it builds.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelBuilder } from '../../engine/ml/trainWorker.js';
import { mobileNetV2, smallCnn } from './models.js';

export interface ImageModelArg {
  architecture: 'small-cnn' | 'cnn' | 'mobilenet-v2';
  /** [height, width, channels]. */
  inputShape: number[];
  classes: number;
  /** MobileNetV2's width multiplier (default 0.35). */
  alpha?: number;
}

export const buildImageModel: ModelBuilder<ImageModelArg> = (arg, { seed }): tf.LayersModel => {
  const [rows, cols, channels] = arg.inputShape as [number, number, number];
  if (arg.architecture === 'cnn') return cnn(rows, cols, channels, arg.classes, seed);
  if (arg.architecture === 'mobilenet-v2') {
    if (rows !== cols) throw new Error(`mobilenet-v2 needs a square input, got ${rows}x${cols}`);
    return mobileNetV2({ alpha: arg.alpha ?? 0.35, inputSize: rows, channels, classes: arg.classes, seed });
  }
  return smallCnn({ inputSize: [rows, cols], channels, classes: arg.classes, seed });
};

/**
 * A plain CNN for small inputs (digits, thumbnails): two conv+pool stages that keep where
 * things are (flatten, not global pooling), then a dense layer. Trains in seconds on 32x32.
 */
function cnn(rows: number, cols: number, channels: number, classes: number, seed?: number): tf.LayersModel {
  let i = 0;
  const init = () => tf.initializers.heNormal({ seed: seed === undefined ? undefined : seed + i++ });
  return tf.sequential({
    name: 'cnn',
    layers: [
      tf.layers.conv2d({
        inputShape: [rows, cols, channels],
        filters: 16,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({
        filters: 32,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init() }),
      tf.layers.dense({ units: classes, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}
