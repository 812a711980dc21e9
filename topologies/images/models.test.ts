import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { makeDivisible, mobileNetV2, smallCnn } from './models.js';

/**
 * MobileNetV2's weight count from its block table, independent of the layers code: conv kernels
 * (no biases), 4 values per batch-norm channel (gamma, beta, moving mean and variance), the head.
 */
function mobileNetV2Params(alpha: number, classes: number, channels = 3): number {
  const bn = (c: number) => 4 * c;
  let cin = makeDivisible(32 * alpha);
  let params = 3 * 3 * channels * cin + bn(cin);
  const table: Array<[number, number, number]> = [
    [1, 16, 1],
    [6, 24, 2],
    [6, 32, 3],
    [6, 64, 4],
    [6, 96, 3],
    [6, 160, 3],
    [6, 320, 1],
  ];
  let first = true;
  for (const [t, c, n] of table) {
    for (let i = 0; i < n; i++) {
      const out = makeDivisible(Math.trunc(c * alpha));
      const expanded = t * cin;
      if (!first) params += cin * expanded + bn(expanded);
      params += 3 * 3 * expanded + bn(expanded) + expanded * out + bn(out);
      cin = out;
      first = false;
    }
  }
  const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  return params + cin * last + bn(last) + last * classes + classes;
}

before(async () => {
  await tf.setBackend('cpu');
});

describe('mobileNetV2', () => {
  test('alpha 1.0, 224x224, 1000 classes has exactly Keras MobileNetV2 weight count', () => {
    const model = mobileNetV2();
    assert.equal(model.countParams(), 3_538_984);
    assert.equal(mobileNetV2Params(1, 1000), 3_538_984);
    assert.deepEqual(model.outputs[0].shape, [null, 1000]);
    // Keras' layer names, so weights converted from Keras load by name.
    for (const name of [
      'Conv1',
      'bn_Conv1',
      'expanded_conv_project_BN',
      'block_1_pad',
      'block_16_project',
      'Conv_1_bn',
    ]) {
      assert.ok(model.getLayer(name), name);
    }
    assert.equal(model.layers.filter((l) => l.getClassName() === 'Add').length, 10);
    model.dispose();
  });

  for (const [alpha, size, classes] of [
    [0.35, 96, 10],
    [0.5, 128, 3],
    [1.4, 64, 5],
  ] as const) {
    test(`alpha ${alpha}, ${size}x${size}, ${classes} classes: weights and shapes follow the block table`, () => {
      const model = mobileNetV2({ alpha, inputSize: size, classes });
      assert.equal(model.countParams(), mobileNetV2Params(alpha, classes));
      assert.deepEqual(model.outputs[0].shape, [null, classes]);
      // Five stride-2 stages: the last feature map is size / 32 on a side (rounded up by 'same').
      const features = model.getLayer('out_relu').outputShape as number[];
      const last = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
      assert.deepEqual(features, [null, Math.ceil(size / 32), Math.ceil(size / 32), last]);
      model.dispose();
    });
  }

  test('non-square odd inputs pad like TensorFlow "same" and predict a distribution per image', () => {
    const model = mobileNetV2({ alpha: 0.35, inputSize: [33, 47], classes: 4, seed: 1 });
    assert.deepEqual(model.getLayer('out_relu').outputShape, [null, 2, 2, 1280]);
    const p = tf.tidy(
      () => (model.predict(tf.ones([2, 33, 47, 3])) as tf.Tensor).sum(1).arraySync() as number[],
    );
    for (const s of p) assert.ok(Math.abs(s - 1) < 1e-5);
    model.dispose();
  });

  test('the same seed builds the same weights', () => {
    const a = mobileNetV2({ alpha: 0.35, inputSize: 32, classes: 2, seed: 7 });
    const b = mobileNetV2({ alpha: 0.35, inputSize: 32, classes: 2, seed: 7 });
    const wa = a.getWeights().map((w) => w.dataSync());
    const wb = b.getWeights().map((w) => w.dataSync());
    assert.deepEqual(wa, wb);
    a.dispose();
    b.dispose();
  });
});

describe('smallCnn', () => {
  test('output shape and weight count', () => {
    const model = smallCnn({ inputSize: 16, channels: 1, classes: 3, filters: [4, 6] });
    assert.deepEqual(model.outputs[0].shape, [null, 3]);
    // conv1 3*3*1*4+4, conv2 3*3*4*6+6, dense 6*3+3.
    assert.equal(model.countParams(), 40 + 222 + 21);
    model.dispose();
  });

  test('one fit step lowers the loss on a toy batch', async () => {
    const model = smallCnn({ inputSize: 8, channels: 1, classes: 2, seed: 3 });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    // Class 0 is bright on the left half, class 1 on the right.
    const n = 16;
    const x = tf.tidy(() => {
      const left = tf.concat([tf.ones([1, 8, 4, 1]), tf.zeros([1, 8, 4, 1])], 2);
      const right = tf.reverse(left, 2);
      return tf.concat(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? left : right)));
    });
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, (_, i) => i % 2),
        'int32',
      ),
      2,
    );
    const lossOf = () => tf.tidy(() => (model.evaluate(x, y, { batchSize: n }) as tf.Scalar).dataSync()[0]);
    const before = lossOf();
    await model.fit(x, y, { epochs: 1, batchSize: n, shuffle: false, verbose: 0 });
    const after = lossOf();
    assert.ok(after < before, `loss ${before} -> ${after}`);
    tf.dispose([x, y]);
    model.dispose();
  });
});
