/**
 * The gradient kernels @tensorflow/tfjs-backend-wasm 4.x ships without, so that models with
 * convolutions train on wasm (without them tfjs throws "Kernel ... not registered" on the
 * backward pass):
 *
 * - Conv2DBackpropFilter: im2col of the input patches, written transposed ([patch, position]),
 *   times dy ([position, outChannels]) with the wasm BatchMatMul kernel (XNNPACK), in chunks of
 *   positions so the patch matrix stays small; accumulated in float64.
 * - DepthwiseConv2dNativeBackpropFilter / DepthwiseConv2dNativeBackpropInput: one pass over dy
 *   in JS over the heap's Float32Arrays (a depthwise convolution does too little work per
 *   element for a matrix product to pay off).
 *
 * NHWC only, dilations of 1 (as tfjs' own gradients require), 'same' / 'valid' / numeric /
 * explicit padding, any strides, any depthwise channel multiplier. Registered only where the
 * wasm backend has no kernel of that name, so a later tfjs that ships them wins.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type TensorInfo = tf.TensorInfo;
type Conv2DInfo = tf.backend_util.Conv2DInfo;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** The patch matrix of one chunk holds at most this many floats (16 MiB). */
const CHUNK_FLOATS = 1 << 22;

export const wasmTrainingKernelNames = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

const kernels: Record<(typeof wasmTrainingKernelNames)[number], tf.KernelFunc> = {
  Conv2DBackpropFilter: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as {
      strides: number | [number, number];
      pad: Pad;
      dataFormat?: 'NHWC' | 'NCHW';
      dimRoundingMode?: Rounding;
      filterShape: [number, number, number, number];
    };
    if (a.dataFormat === 'NCHW') {
      throw new Error('Conv2DBackpropFilter (wasm): only the NHWC data format is supported');
    }
    const info = convInfo(
      'Conv2DBackpropFilter',
      x.shape,
      a.filterShape,
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
    );
    checkShape('Conv2DBackpropFilter', 'dy', dy.shape, info.outShape);
    return conv2dBackpropFilter(backend as BackendWasm, x, dy, info);
  },
  DepthwiseConv2dNativeBackpropFilter: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const a = attrs as unknown as DepthwiseAttrs & { filterShape: [number, number, number, number] };
    const name = 'DepthwiseConv2dNativeBackpropFilter';
    const info = convInfo(
      name,
      x.shape,
      a.filterShape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      true,
    );
    checkShape(name, 'dy', dy.shape, info.outShape);
    return depthwiseBackpropFilter(backend as BackendWasm, x, dy, info);
  },
  DepthwiseConv2dNativeBackpropInput: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as DepthwiseAttrs & { inputShape: [number, number, number, number] };
    const name = 'DepthwiseConv2dNativeBackpropInput';
    const info = convInfo(
      name,
      a.inputShape,
      filter.shape,
      a.strides,
      a.dilations,
      a.pad,
      a.dimRoundingMode,
      true,
    );
    checkShape(name, 'dy', dy.shape, info.outShape);
    return depthwiseBackpropInput(backend as BackendWasm, dy, filter, info);
  },
};

interface DepthwiseAttrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: Pad;
  dimRoundingMode?: Rounding;
}

/**
 * Registers the kernels the wasm backend lacks; returns the names it registered. Idempotent;
 * may run before or after the backend initialises (kernels are looked up per call).
 */
export function registerWasmTrainingKernels(): string[] {
  const registered: string[] = [];
  for (const kernelName of wasmTrainingKernelNames) {
    if (tf.getKernel(kernelName, 'wasm')) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernels[kernelName] });
    registered.push(kernelName);
  }
  return registered;
}

function convInfo(
  kernel: string,
  inShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  dilations: number | [number, number] | undefined,
  pad: Pad,
  rounding: Rounding,
  depthwise = false,
): Conv2DInfo {
  const d = dilations ?? 1;
  if (!(Array.isArray(d) ? d : [d]).every((v) => v === 1)) {
    throw new Error(`${kernel} (wasm): dilations other than 1 are not supported, got ${JSON.stringify(d)}`);
  }
  if (inShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(`${kernel} (wasm): input and filter must be rank 4 (NHWC)`);
  }
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    rounding,
    depthwise,
    'channelsLast',
  );
}

function checkShape(kernel: string, what: string, actual: number[], expected: number[]): void {
  if (actual.length !== expected.length || actual.some((v, i) => v !== expected[i])) {
    throw new Error(`${kernel} (wasm): ${what} has shape [${actual}], expected [${expected}]`);
  }
}

function heap(backend: BackendWasm, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`wasm training kernels need float32 tensors, got ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** dW[kh,kw,ci,co] = sum over (b,oh,ow) of x[b, oh*sh+kh-top, ow*sw+kw-left, ci] * dy[b,oh,ow,co]. */
function conv2dBackpropFilter(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  c: Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = c;
  const { filterHeight: KH, filterWidth: KW, outChannels: CO, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  const K = KH * KW * CI;
  const N = batchSize * OH * OW;
  const matMul = tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc;
  if (!matMul) throw new Error('Conv2DBackpropFilter (wasm): the wasm BatchMatMul kernel is not registered');
  const acc = new Float64Array(K * CO);
  const rows = Math.max(1, Math.min(N, Math.floor(CHUNK_FLOATS / K)));
  for (let n0 = 0; n0 < N; n0 += rows) {
    const n = Math.min(rows, N - n0);
    // Allocate first: growing the heap detaches every view taken before.
    const patches = backend.makeOutput([K, n], 'float32');
    const whole = n === N;
    const dyRows = whole
      ? { dataId: dy.dataId, shape: [N, CO], dtype: dy.dtype }
      : backend.makeOutput([n, CO], 'float32');
    if (whole) backend.incRef(dy.dataId);
    const xs = heap(backend, x);
    const pt = heap(backend, patches);
    pt.fill(0);
    if (!whole) heap(backend, dyRows).set(heap(backend, dy).subarray(n0 * CO, (n0 + n) * CO));
    for (let j = 0; j < n; j++) {
      const pos = n0 + j;
      const ow = pos % OW;
      const oh = Math.floor(pos / OW) % OH;
      const b = Math.floor(pos / (OW * OH));
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh + kh - top;
        if (ih < 0 || ih >= H) continue;
        for (let kw = 0; kw < KW; kw++) {
          const iw = ow * sw + kw - left;
          if (iw < 0 || iw >= W) continue;
          const src = ((b * H + ih) * W + iw) * CI;
          let dst = (kh * KW + kw) * CI * n + j;
          for (let ci = 0; ci < CI; ci++, dst += n) pt[dst] = xs[src + ci];
        }
      }
    }
    const product = matMul({
      inputs: { a: patches, b: dyRows },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo;
    const p = heap(backend, product);
    for (let i = 0; i < acc.length; i++) acc[i] += p[i];
    backend.disposeData(product.dataId);
    backend.disposeData(patches.dataId);
    backend.disposeData(dyRows.dataId);
  }
  const out = backend.makeOutput(c.filterShape, 'float32');
  heap(backend, out).set(acc);
  return out;
}

/** dW[kh,kw,c,m] = sum over (b,oh,ow) of x[b, oh*sh+kh-top, ow*sw+kw-left, c] * dy[b,oh,ow,c*M+m]. */
function depthwiseBackpropFilter(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  c: Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = c;
  const { filterHeight: KH, filterWidth: KW, outChannels: CM, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  const M = CM / C;
  const acc = new Float64Array(KH * KW * CM);
  const xs = heap(backend, x);
  const dys = heap(backend, dy);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const g = ((b * OH + oh) * OW + ow) * CM;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw - left;
            if (iw < 0 || iw >= W) continue;
            const src = ((b * H + ih) * W + iw) * C;
            const w = (kh * KW + kw) * CM;
            if (M === 1) {
              for (let q = 0; q < CM; q++) acc[w + q] += xs[src + q] * dys[g + q];
            } else {
              for (let ch = 0; ch < C; ch++) {
                const xv = xs[src + ch];
                for (let m = 0, q = ch * M; m < M; m++, q++) acc[w + q] += xv * dys[g + q];
              }
            }
          }
        }
      }
    }
  }
  const out = backend.makeOutput(c.filterShape, 'float32');
  heap(backend, out).set(acc);
  return out;
}

/** dx[b,ih,iw,c] = sum over the (oh,ow,kh,kw,m) that read it of dy[b,oh,ow,c*M+m] * w[kh,kw,c,m]. */
function depthwiseBackpropInput(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  c: Conv2DInfo,
): TensorInfo {
  const { batchSize, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = c;
  const { filterHeight: KH, filterWidth: KW, outChannels: CM, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  const M = CM / C;
  const out = backend.makeOutput(c.inShape, 'float32');
  const dx = heap(backend, out);
  dx.fill(0);
  const dys = heap(backend, dy);
  const ws = heap(backend, filter);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const g = ((b * OH + oh) * OW + ow) * CM;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh + kh - top;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw + kw - left;
            if (iw < 0 || iw >= W) continue;
            const dst = ((b * H + ih) * W + iw) * C;
            const w = (kh * KW + kw) * CM;
            if (M === 1) {
              for (let q = 0; q < C; q++) dx[dst + q] += dys[g + q] * ws[w + q];
            } else {
              for (let ch = 0; ch < C; ch++) {
                let s = 0;
                for (let m = 0, q = ch * M; m < M; m++, q++) s += dys[g + q] * ws[w + q];
                dx[dst + ch] += s;
              }
            }
          }
        }
      }
    }
  }
  return out;
}
