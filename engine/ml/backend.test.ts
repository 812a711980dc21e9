import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import * as tfDirect from '@tensorflow/tfjs';
import * as tfCore from '@tensorflow/tfjs-core';
import { pino } from 'pino';
import { backendFromEnv, selectBackend, tf } from './backend.js';
import { wasmTrainingKernelNames } from './wasmKernels.js';

/** A logger whose records land in `records`. */
function capture() {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line)) });
  return { logger, records };
}

const nativeLoads = await import('@tensorflow/tfjs-node' as string).then(
  () => true,
  () => false,
);

describe('selectBackend', () => {
  test('SLUICE_TF_BACKEND: unset or empty is auto, case does not matter, nonsense is refused', () => {
    assert.equal(backendFromEnv({}), 'auto');
    assert.equal(backendFromEnv({ SLUICE_TF_BACKEND: '' }), 'auto');
    assert.equal(backendFromEnv({ SLUICE_TF_BACKEND: 'WASM' }), 'wasm');
    assert.equal(backendFromEnv({ SLUICE_TF_BACKEND: 'node-gpu' }), 'node-gpu');
    assert.throws(() => backendFromEnv({ SLUICE_TF_BACKEND: 'gpu' }), { code: 'SLUICE_CONFIG_INVALID' });
  });

  test('one tfjs instance: the re-export, @tensorflow/tfjs and tfjs-core share the engine', () => {
    assert.equal(tf, tfDirect);
    assert.equal(tf.engine(), tfCore.engine());
  });

  test('the env var forces cpu, and the choice is logged', async () => {
    const { logger, records } = capture();
    const saved = process.env.SLUICE_TF_BACKEND;
    process.env.SLUICE_TF_BACKEND = 'cpu';
    try {
      assert.equal(await selectBackend({ logger }), 'cpu');
    } finally {
      if (saved === undefined) delete process.env.SLUICE_TF_BACKEND;
      else process.env.SLUICE_TF_BACKEND = saved;
    }
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(
      records.filter((r) => r.msg === 'tfjs backend').map((r) => [r.backend, r.forced]),
      [['cpu', true]],
    );
    // The same choice again: nothing new starts.
    assert.equal(await selectBackend({ backend: 'cpu', logger }), 'cpu');
    assert.equal(records.filter((r) => r.msg === 'tfjs backend').length, 1);
  });

  test('wasm runs with SIMD and the training kernels it lacks', async () => {
    const { logger, records } = capture();
    assert.equal(await selectBackend({ backend: 'wasm', logger }), 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    const line = records.find((r) => r.msg === 'tfjs backend');
    assert.equal(line?.simd, true);
    for (const k of wasmTrainingKernelNames) assert.ok(tf.getKernel(k, 'wasm'), k);
    // It computes: a tiny matmul on the wasm heap.
    assert.deepEqual(Array.from(tf.matMul([[1, 2]], [[3], [4]]).dataSync()), [11]);
  });

  test('forcing a native backend that is not installed fails with a clear error', {
    skip: nativeLoads,
  }, async () => {
    const { logger } = capture();
    await assert.rejects(selectBackend({ backend: 'node', logger }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SLUICE_ML_BACKEND_UNAVAILABLE');
      assert.match(e.message, /node: .*tfjs-node/);
      return true;
    });
  });

  test('auto, at start, falls through the native packages to wasm when they cannot load', {
    skip: nativeLoads,
  }, () => {
    // A fresh process: in this one a backend already runs.
    const backendUrl = new URL('./backend.ts', import.meta.url).href;
    const script = `const { selectBackend } = await import(${JSON.stringify(backendUrl)});
      process.stdout.write(await selectBackend());`;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, SLUICE_TF_BACKEND: '', SLUICE_LOG_LEVEL: 'debug' },
      encoding: 'utf8',
    });
    assert.equal(out.status, 0, out.stderr);
    assert.equal(out.stdout, 'wasm');
    const records = out.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      records.filter((r) => r.msg === 'tfjs backend unavailable').map((r) => r.backend),
      ['node-gpu', 'node'],
    );
    assert.deepEqual(
      records.filter((r) => r.msg === 'tfjs backend').map((r) => [r.backend, r.forced]),
      [['wasm', false]],
    );
  });
});
