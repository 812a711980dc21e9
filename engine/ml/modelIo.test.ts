import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { fileSystem, loadModel, ModelIoError, saveModel } from './modelIo.js';

let dir: string;
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'sluice-modelio-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A small conv net with every kind of weight a CNN has: kernels, biases, batch-norm statistics. */
function smallCnn(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
      tf.layers.batchNormalization({}),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
}

describe('modelIo', () => {
  test('a trained model saved to a directory loads back with identical predictions', async () => {
    const model = smallCnn();
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const x = tf.randomUniform([16, 8, 8, 1], 0, 1, 'float32', 1);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 2),
        'int32',
      ),
      2,
    );
    await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });

    const target = join(dir, 'trained');
    const result = await saveModel(model, target);
    assert.deepEqual((await readdir(target)).sort(), ['model.json', 'weights.bin']);
    const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
    assert.equal(json.format, 'layers-model');
    assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
    // Every float of every weight, the batch norm's moving statistics included.
    assert.equal(result.modelArtifactsInfo.weightDataBytes, model.countParams() * 4);

    for (const path of [target, join(target, 'model.json')]) {
      const loaded = await loadModel(path);
      const [a, b] = tf.tidy(() => [
        (model.predict(x) as tf.Tensor).dataSync(),
        (loaded.predict(x) as tf.Tensor).dataSync(),
      ]);
      assert.deepEqual(b, a);
      loaded.dispose();
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  test('a Keras model converted by tensorflowjs_converter (sharded weights) loads from a path', async () => {
    // What `tensorflowjs_converter --input_format keras` writes for Sequential([Dense(2, softmax)])
    // with a tiny shard size: the weights' bytes split over two files mid-tensor.
    const kernel = [0.5, -1, 2, 0.25, -0.75, 1.5]; // [3, 2]
    const bias = [0.1, -0.2];
    const bytes = new Uint8Array(new Float32Array([...kernel, ...bias]).buffer);
    const target = join(dir, 'keras');
    await rm(target, { recursive: true, force: true });
    await mkdir(target);
    await writeFile(join(target, 'group1-shard1of2.bin'), bytes.subarray(0, 10));
    await writeFile(join(target, 'group1-shard2of2.bin'), bytes.subarray(10));
    const modelJson = {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version: '2.15.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Sequential',
          config: {
            name: 'sequential',
            layers: [
              {
                class_name: 'InputLayer',
                config: {
                  batch_input_shape: [null, 3],
                  dtype: 'float32',
                  sparse: false,
                  ragged: false,
                  name: 'input_1',
                },
              },
              {
                class_name: 'Dense',
                config: {
                  name: 'dense',
                  trainable: true,
                  dtype: 'float32',
                  units: 2,
                  activation: 'softmax',
                  use_bias: true,
                  kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } },
                  bias_initializer: { class_name: 'Zeros', config: {} },
                  kernel_regularizer: null,
                  bias_regularizer: null,
                  activity_regularizer: null,
                  kernel_constraint: null,
                  bias_constraint: null,
                },
              },
            ],
          },
        },
      },
      weightsManifest: [
        {
          paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'],
          weights: [
            { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
            { name: 'dense/bias', shape: [2], dtype: 'float32' },
          ],
        },
      ],
    };
    await writeFile(join(target, 'model.json'), JSON.stringify(modelJson));

    const model = await loadModel(join(target, 'model.json'));
    const input = [1, 2, 3];
    const logits = [0, 1].map((j) => bias[j] + input.reduce((s, v, i) => s + v * kernel[i * 2 + j], 0));
    const expected = logits.map((l) => Math.exp(l) / logits.reduce((s, m) => s + Math.exp(m), 0));
    const got = tf.tidy(() => (model.predict(tf.tensor2d([input])) as tf.Tensor).dataSync());
    for (let j = 0; j < 2; j++)
      assert.ok(Math.abs(got[j] - expected[j]) < 1e-6, `${got[j]} vs ${expected[j]}`);
    model.dispose();
  });

  test('missing files and foreign JSON fail with SLUICE_ML_MODEL_IO', async () => {
    await assert.rejects(loadModel(join(dir, 'nothing-here')), (e: unknown) => e instanceof ModelIoError);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ hello: 'world' }));
    await assert.rejects(fileSystem(bad).load!(), /no modelTopology/);
    const escaping = join(dir, 'escaping.json');
    await writeFile(
      escaping,
      JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['../../etc/passwd'], weights: [] }] }),
    );
    await assert.rejects(fileSystem(escaping).load!(), /outside its directory/);
  });
});
