/**
 * Image classifiers for the pipeline, built with tf.layers:
 *
 * - `mobileNetV2`: MobileNetV2 (Sandler et al. 2018) layer for layer as Keras'
 *   `keras.applications.MobileNetV2` builds it (same layer names, so weights converted from
 *   Keras load by name): a stride-2 stem, 17 inverted residual blocks (1x1 expansion, 3x3
 *   depthwise, linear 1x1 projection, residual add when shapes allow), a 1x1 conv to 1280
 *   features, global average pooling and a softmax head. Width multiplier `alpha`, input size
 *   and class count are options. ReLU6 is the `relu6` activation (one kernel, where Keras'
 *   `ReLU(6.)` layer is relu + clip: same function, no weights).
 * - `smallCnn`: two conv layers and a softmax head, for tests and tiny data sets.
 *
 * The models come uncompiled: the trainer chooses optimizer and loss.
 */
import * as tf from '@tensorflow/tfjs';

export interface MobileNetV2Options {
  /** Width multiplier; Keras ships 0.35, 0.5, 0.75, 1.0, 1.3, 1.4. Default 1. */
  alpha?: number;
  /** Input height and width (a number for square inputs). Default 224. */
  inputSize?: number | [number, number];
  /** Input channels. Default 3. */
  channels?: number;
  /** Output classes of the softmax head. Default 1000. */
  classes?: number;
  /** Without the head the model ends at the 1280-feature map (for feature extraction). Default true. */
  includeTop?: boolean;
  /** Batch normalisation momentum; Keras uses 0.999 (slow moving statistics). */
  batchNormMomentum?: number;
  /** Seeds every initializer (layer i gets seed + i): the same seed builds the same weights. */
  seed?: number;
  name?: string;
}

/** (expansion t, output filters c, stride s) of blocks 1..16; block 0 is (1, 16, 1). */
const BLOCKS: ReadonlyArray<readonly [number, number, number]> = [
  [6, 24, 2],
  [6, 24, 1],
  [6, 32, 2],
  [6, 32, 1],
  [6, 32, 1],
  [6, 64, 2],
  [6, 64, 1],
  [6, 64, 1],
  [6, 64, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 96, 1],
  [6, 160, 2],
  [6, 160, 1],
  [6, 160, 1],
  [6, 320, 1],
];

/** Keras' `_make_divisible`: round to a multiple of `divisor`, never down by more than 10%. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** Seeded initializers, one seed per layer, or tfjs' defaults without a seed. */
function initializers(seed: number | undefined) {
  let next = 0;
  return () => (seed === undefined ? undefined : tf.initializers.glorotUniform({ seed: seed + next++ }));
}

export function mobileNetV2(options: MobileNetV2Options = {}): tf.LayersModel {
  const alpha = options.alpha ?? 1;
  const [rows, cols] = Array.isArray(options.inputSize)
    ? options.inputSize
    : [options.inputSize ?? 224, options.inputSize ?? 224];
  const classes = options.classes ?? 1000;
  const momentum = options.batchNormMomentum ?? 0.999;
  const init = initializers(options.seed);
  const bn = (name: string) => tf.layers.batchNormalization({ axis: -1, epsilon: 1e-3, momentum, name });
  const relu6 = (name: string) => tf.layers.activation({ activation: 'relu6', name });
  const conv1x1 = (filters: number, name: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 1,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
      name,
    });

  const input = tf.input({ shape: [rows, cols, options.channels ?? 3] });
  let x = tf.layers
    .conv2d({
      filters: makeDivisible(32 * alpha),
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
      name: 'Conv1',
    })
    .apply(input) as tf.SymbolicTensor;
  x = relu6('Conv1_relu').apply(bn('bn_Conv1').apply(x)) as tf.SymbolicTensor;

  const block = (inputs: tf.SymbolicTensor, t: number, filters: number, stride: number, id: number) => {
    const inChannels = inputs.shape[3] as number;
    const pointwise = makeDivisible(Math.trunc(filters * alpha));
    const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
    let y = inputs;
    if (id !== 0) {
      y = conv1x1(t * inChannels, `${prefix}expand`).apply(y) as tf.SymbolicTensor;
      y = relu6(`${prefix}expand_relu`).apply(bn(`${prefix}expand_BN`).apply(y)) as tf.SymbolicTensor;
    }
    if (stride === 2) {
      y = tf.layers
        .zeroPadding2d({ padding: correctPad(y, 3), name: `${prefix}pad` })
        .apply(y) as tf.SymbolicTensor;
    }
    y = tf.layers
      .depthwiseConv2d({
        kernelSize: 3,
        strides: stride,
        padding: stride === 1 ? 'same' : 'valid',
        useBias: false,
        depthwiseInitializer: init(),
        name: `${prefix}depthwise`,
      })
      .apply(y) as tf.SymbolicTensor;
    y = relu6(`${prefix}depthwise_relu`).apply(bn(`${prefix}depthwise_BN`).apply(y)) as tf.SymbolicTensor;
    y = conv1x1(pointwise, `${prefix}project`).apply(y) as tf.SymbolicTensor;
    y = bn(`${prefix}project_BN`).apply(y) as tf.SymbolicTensor;
    if (inChannels === pointwise && stride === 1) {
      return tf.layers.add({ name: `${prefix}add` }).apply([inputs, y]) as tf.SymbolicTensor;
    }
    return y;
  };

  x = block(x, 1, 16, 1, 0);
  BLOCKS.forEach(([t, c, s], i) => {
    x = block(x, t, c, s, i + 1);
  });

  const lastFilters = alpha > 1 ? makeDivisible(1280 * alpha) : 1280;
  x = conv1x1(lastFilters, 'Conv_1').apply(x) as tf.SymbolicTensor;
  x = relu6('out_relu').apply(bn('Conv_1_bn').apply(x)) as tf.SymbolicTensor;
  if (options.includeTop ?? true) {
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers
      .dense({ units: classes, activation: 'softmax', kernelInitializer: init(), name: 'predictions' })
      .apply(x) as tf.SymbolicTensor;
  }
  return tf.model({
    inputs: input,
    outputs: x,
    name: options.name ?? `mobilenetv2_${alpha.toFixed(2)}_${rows}`,
  });
}

/**
 * Keras' `imagenet_utils.correct_pad`: the zero padding before a stride-2 'valid' 3x3 conv that
 * matches TensorFlow's 'same' (one less row/column on top/left when the input size is even).
 */
function correctPad(x: tf.SymbolicTensor, kernel: number): [[number, number], [number, number]] {
  const [h, w] = [x.shape[1] as number, x.shape[2] as number];
  const k = Math.floor(kernel / 2);
  const adjust = [1 - (h % 2), 1 - (w % 2)];
  return [
    [k - adjust[0], k],
    [k - adjust[1], k],
  ];
}

export interface SmallCnnOptions {
  /** Input height and width. Default 32. */
  inputSize?: number | [number, number];
  channels?: number;
  classes?: number;
  /** Filters of the two conv layers. Default [8, 16]. */
  filters?: [number, number];
  seed?: number;
  name?: string;
}

/** conv 3x3 (relu) → maxpool 2 → conv 3x3 (relu) → global average pooling → dense softmax. */
export function smallCnn(options: SmallCnnOptions = {}): tf.LayersModel {
  const [rows, cols] = Array.isArray(options.inputSize)
    ? options.inputSize
    : [options.inputSize ?? 32, options.inputSize ?? 32];
  const [f1, f2] = options.filters ?? [8, 16];
  const init = initializers(options.seed);
  return tf.sequential({
    name: options.name ?? 'small_cnn',
    layers: [
      tf.layers.conv2d({
        inputShape: [rows, cols, options.channels ?? 3],
        filters: f1,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
        name: 'conv1',
      }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({
        filters: f2,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
        name: 'conv2',
      }),
      tf.layers.globalAveragePooling2d({ name: 'gap' }),
      tf.layers.dense({
        units: options.classes ?? 2,
        activation: 'softmax',
        kernelInitializer: init(),
        name: 'predictions',
      }),
    ],
  });
}
