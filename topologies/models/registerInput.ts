import type * as tf from '@tensorflow/tfjs';
import type { RegisterInput } from './modelRegistry.js';
import { ModelRegistryError } from './registryErrors.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * Checks a registration before anything is stored (the name becomes a directory, the labels and
 * shape must fit the model) and returns the input shape: the given one, else the model's.
 */
export function checkRegisterInput(input: RegisterInput): number[] {
  const { model, artifactDir } = input;
  checkName(input.modelName);
  if ((model === undefined) === (artifactDir === undefined)) {
    throw new ModelRegistryError('invalid', 'give exactly one of model and artifactDir');
  }
  if (input.classLabels.length === 0 || input.classLabels.some((l) => typeof l !== 'string' || l === '')) {
    throw new ModelRegistryError('invalid', 'classLabels must be non-empty names, one per model output');
  }
  if (typeof input.featureSet !== 'string' || input.featureSet === '') {
    throw new ModelRegistryError('invalid', 'featureSet must be a non-empty name');
  }
  const inputShape = input.inputShape ?? (model ? modelInputShape(model) : undefined);
  if (!inputShape || inputShape.length === 0 || inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ModelRegistryError('invalid', `inputShape must be positive integers, got ${inputShape}`);
  }
  if (model) checkModelShapes(model, inputShape, input.classLabels.length);
  return inputShape;
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !MODEL_NAME.test(name)) {
    throw new ModelRegistryError(
      'invalid',
      `model name ${JSON.stringify(name)} must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

function modelInputShape(model: tf.LayersModel): number[] | undefined {
  const shape = model.inputs[0]?.shape.slice(1);
  return shape?.every((d) => typeof d === 'number') ? (shape as number[]) : undefined;
}

/** The model must take `inputShape` and have one output per class label. */
function checkModelShapes(model: tf.LayersModel, inputShape: number[], classes: number): void {
  const declared = model.inputs[0]?.shape.slice(1) ?? [];
  if (declared.length !== inputShape.length || declared.some((d, i) => d !== null && d !== inputShape[i])) {
    throw new ModelRegistryError(
      'invalid',
      `inputShape [${inputShape}] does not match the model's input [${declared.map((d) => d ?? '?')}]`,
    );
  }
  const outputs = model.outputs[0]?.shape.at(-1);
  if (typeof outputs === 'number' && outputs !== classes) {
    throw new ModelRegistryError(
      'invalid',
      `the model has ${outputs} outputs but ${classes} class labels were given`,
    );
  }
}
