/**
 * The model builders training threads load (engine/ml/trainWorker.ts): a module of its own so
 * a thread imports only what it builds.
 */
import type { LayersModel } from '@tensorflow/tfjs';
import type { ModelBuilder } from '../../engine/ml/trainWorker.js';
import { mobileNetV2, smallCnn } from './models.js';

export interface ImageModelArg {
  architecture: 'small-cnn' | 'mobilenet-v2';
  /** [height, width, channels]. */
  inputShape: number[];
  classes: number;
  /** MobileNetV2's width multiplier (default 0.35). */
  alpha?: number;
}

export const buildImageModel: ModelBuilder<ImageModelArg> = (arg, { seed }): LayersModel => {
  const [rows, cols, channels] = arg.inputShape as [number, number, number];
  if (arg.architecture === 'mobilenet-v2') {
    if (rows !== cols) throw new Error(`mobilenet-v2 needs a square input, got ${rows}x${cols}`);
    return mobileNetV2({ alpha: arg.alpha ?? 0.35, inputSize: rows, channels, classes: arg.classes, seed });
  }
  return smallCnn({ inputSize: [rows, cols], channels, classes: arg.classes, seed });
};
