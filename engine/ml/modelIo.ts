/**
 * TensorFlow.js models on the local file system, in the TF.js layers format (model.json and its
 * binary weight shards): what `model.save('file://…')` writes with tfjs-node, and what
 * tensorflowjs_converter writes from a Keras model. Pure tfjs has no `file://` handler (only
 * tfjs-node registers one), so this is the IOHandler for it, on node:fs.
 *
 *   await saveModel(model, dir)            // dir/model.json + dir/weights.bin
 *   const model = await loadModel(dir)     // or a path to any model.json (Keras-converted too)
 *   tf.loadGraphModel(fileSystem(path))    // the handler works for graph models as well
 */
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SluiceError } from '../errors.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** A failure to read or write a model's files (missing file, bad JSON, wrong format). */
export class ModelIoError extends SluiceError {
  constructor(message: string, cause?: unknown) {
    super('SLUICE_ML_MODEL_IO', message, { cause });
  }
}

/**
 * An IOHandler for `path`: a directory (holding model.json) or a model.json file. Saving writes
 * model.json and weights.bin into the directory (created if missing); model.json is written last
 * and renamed into place, so a reader never sees a model.json whose weights are not there yet.
 */
export function fileSystem(path: string): tf.io.IOHandler {
  return {
    save: (artifacts) => save(path, artifacts),
    load: () => load(path),
  };
}

/** Saves `model` under `dir` (model.json + weights.bin); `includeOptimizer` adds its training config. */
export async function saveModel(
  model: tf.LayersModel,
  dir: string,
  config?: tf.io.SaveConfig,
): Promise<tf.io.SaveResult> {
  return model.save(fileSystem(dir), config);
}

export interface LoadModelOptions {
  /** Fail when a weight in the files has no variable in the model, or one is missing. Default true. */
  strict?: boolean;
}

/** Loads a layers model (saved by `saveModel`, tfjs-node, or converted from Keras) from a path. */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileSystem(path), { strict: options.strict ?? true });
}

async function modelJsonPath(path: string): Promise<string> {
  const s = await stat(path).catch((err: unknown) => {
    throw new ModelIoError(`no model at ${path}`, err);
  });
  return s.isDirectory() ? join(path, MODEL_JSON) : path;
}

async function save(path: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new ModelIoError('saving a binary (GraphDef) topology is not supported; save a layers model');
  }
  const dir = path.endsWith('.json') ? dirname(path) : path;
  const jsonFile = path.endsWith('.json') ? path : join(dir, MODEL_JSON);
  await mkdir(dir, { recursive: true });
  const weights =
    artifacts.weightData === undefined ? null : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology ?? {},
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: weights ? [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }] : [],
    ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
    ...(artifacts.signature ? { signature: artifacts.signature } : {}),
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
    ...(artifacts.modelInitializer ? { modelInitializer: artifacts.modelInitializer } : {}),
  };
  if (weights) await writeFile(join(dir, WEIGHTS_BIN), new Uint8Array(weights));
  const tmp = `${jsonFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(modelJson));
  await rename(tmp, jsonFile);
  return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
}

async function load(path: string): Promise<tf.io.ModelArtifacts> {
  const jsonFile = await modelJsonPath(path);
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(await readFile(jsonFile, 'utf8')) as tf.io.ModelJSON;
  } catch (err) {
    throw new ModelIoError(`cannot read ${jsonFile} as a TF.js model.json`, err);
  }
  if (modelJson === null || typeof modelJson !== 'object' || modelJson.modelTopology == null) {
    throw new ModelIoError(`${jsonFile} has no modelTopology: not a TF.js model.json`);
  }
  const dir = dirname(jsonFile);
  return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const shards: ArrayBuffer[] = [];
    // Shards in manifest order are the weights' bytes in spec order (a tensor may span shards).
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) shards.push(await readShard(dir, p, jsonFile));
    }
    return [specs, tf.io.CompositeArrayBuffer.join(shards)];
  });
}

async function readShard(dir: string, path: string, jsonFile: string): Promise<ArrayBuffer> {
  const file = resolve(dir, path);
  const rel = relative(dir, file);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new ModelIoError(`${jsonFile} names a weights file outside its directory: ${path}`);
  }
  try {
    const bytes = await readFile(file);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (err) {
    throw new ModelIoError(`cannot read the weights file ${file} named in ${jsonFile}`, err);
  }
}
