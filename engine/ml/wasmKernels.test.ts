import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { selectBackend, tf } from './backend.js';
import { registerWasmTrainingKernels, wasmTrainingKernelNames } from './wasmKernels.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | tf.backend_util.ExplicitPadding;

/** Deterministic values in [-1, 1) (mulberry32), the same on both backends. */
function values(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Gradients of sum(conv(x, w) * r) with respect to x and w on `backend` (r fixes a dense dy). */
async function grads(
  backend: string,
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: Shape4,
  wShape: Shape4,
): Promise<{ dx: Float32Array; dw: Float32Array }> {
  await tf.setBackend(backend);
  const x = tf.tensor4d(values(size(xShape), 1), xShape);
  const w = tf.tensor4d(values(size(wShape), 2), wShape);
  const outShape = tf.tidy(() => conv(x, w).shape);
  const r = tf.tensor(values(size(outShape), 3), outShape);
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)),
  );
  const [dx, dw] = g([x, w]);
  const result = { dx: (await dx.data()) as Float32Array, dw: (await dw.data()) as Float32Array };
  tf.dispose([x, w, r, dx, dw]);
  return result;
}

/** max |a - b| / max |b|: the error relative to the gradient's scale. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(scale > 0, 'the reference gradient is all zeros');
  return diff / scale;
}

async function assertSameAsCpu(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  xShape: Shape4,
  wShape: Shape4,
): Promise<void> {
  const cpu = await grads('cpu', conv, xShape, wShape);
  const wasm = await grads('wasm', conv, xShape, wShape);
  const ex = relativeError(wasm.dx, cpu.dx);
  const ew = relativeError(wasm.dw, cpu.dw);
  assert.ok(ex < 1e-4, `dx relative error ${ex}`);
  assert.ok(ew < 1e-4, `dw relative error ${ew}`);
}

before(async () => {
  assert.equal(await selectBackend({ backend: 'wasm' }), 'wasm');
});

describe('wasm training kernels', () => {
  test('the wasm backend lacks exactly these kernels, and has them once registered', () => {
    // Registered by selectBackend already: registering again adds nothing.
    assert.deepEqual(registerWasmTrainingKernels(), []);
    for (const name of wasmTrainingKernelNames) assert.ok(tf.getKernel(name, 'wasm'), name);
    // The input gradient of a full convolution ships with the package.
    assert.ok(tf.getKernel('Conv2DBackpropInput', 'wasm'));
  });

  const convCases: Array<[string, Shape4, Shape4, [number, number] | number, Pad]> = [
    ['3x3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 4], 1, 'same'],
    ['3x3 stride 2 same, even input', [2, 8, 8, 3], [3, 3, 3, 5], 2, 'same'],
    ['3x3 stride 2 valid', [2, 9, 7, 2], [3, 3, 2, 4], 2, 'valid'],
    ['1x1 pointwise', [3, 5, 6, 7], [1, 1, 7, 6], 1, 'valid'],
    [
      '5x3 strides [2,1] explicit pads',
      [2, 9, 8, 3],
      [5, 3, 3, 2],
      [2, 1],
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
    // K * N = 576 * 9216 > the 4M-float chunk: the patch matrix is built in two chunks.
    ['3x3 same, chunked', [4, 48, 48, 64], [3, 3, 64, 1], 1, 'same'],
  ];
  for (const [name, xShape, wShape, strides, pad] of convCases) {
    test(`conv2d gradients match cpu: ${name}`, async () => {
      await assertSameAsCpu((x, w) => tf.conv2d(x, w, strides, pad), xShape, wShape);
    });
  }

  const depthwiseCases: Array<[string, Shape4, Shape4, [number, number] | number, Pad]> = [
    ['3x3 stride 1 same', [2, 7, 7, 3], [3, 3, 3, 1], 1, 'same'],
    ['3x3 stride 2 same', [2, 8, 8, 4], [3, 3, 4, 1], 2, 'same'],
    ['3x3 stride 2 valid, multiplier 2', [2, 9, 9, 3], [3, 3, 3, 2], 2, 'valid'],
    ['2x3 strides [1,2] multiplier 3', [1, 6, 7, 4], [2, 3, 4, 3], [1, 2], 'same'],
    [
      '3x3 stride 2 explicit pads (MobileNetV2 correct_pad)',
      [2, 8, 8, 5],
      [3, 3, 5, 1],
      2,
      [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
    ],
  ];
  for (const [name, xShape, wShape, strides, pad] of depthwiseCases) {
    test(`depthwise conv2d gradients match cpu: ${name}`, async () => {
      await assertSameAsCpu((x, w) => tf.depthwiseConv2d(x, w, strides, pad), xShape, wShape);
    });
  }

  test('dilations other than 1 and NCHW are refused with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 6, 6, 2]);
    const dy = tf.zeros([1, 6, 6, 2]);
    assert.throws(
      () =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
          strides: 1,
          dilations: 2,
          pad: 'same',
          filterShape: [3, 3, 2, 1],
        } as unknown as tf.NamedAttrMap),
      /dilations other than 1 are not supported/,
    );
    assert.throws(
      () =>
        tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          strides: 1,
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 2, 2],
        } as unknown as tf.NamedAttrMap),
      /only the NHWC data format/,
    );
    tf.dispose([x, dy]);
  });

  test('a conv + depthwise model trains on wasm without leaking tensors', async () => {
    await tf.setBackend('wasm');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, strides: 2, padding: 'same' }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6' }),
        tf.layers.globalAveragePooling2d({}),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'categoricalCrossentropy' });
    const x = tf.tensor4d(values(16 * 8 * 8 * 2, 4), [16, 8, 8, 2]);
    const y = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 2),
        'int32',
      ),
      2,
    );
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 }); // warm-up: optimizer slots
    const before = tf.memory().numTensors;
    const h = await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
    assert.equal(tf.memory().numTensors, before);
    assert.ok(h.history.loss.every((l) => Number.isFinite(l as number)));
    tf.dispose([x, y]);
    model.dispose();
  });
});
