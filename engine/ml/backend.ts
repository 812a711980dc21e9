/**
 * Which TensorFlow.js backend runs the models, chosen once per thread at start: the native
 * bindings when installed (`@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`, both
 * optional dependencies whose install needs libtensorflow), else WebAssembly (SIMD, with the
 * training kernels the package lacks registered by ./wasmKernels), else the plain JS `cpu`.
 * `SLUICE_TF_BACKEND` (or the `backend` option) forces one; forcing one that cannot load fails.
 *
 * Everything in Sluice uses the one tfjs instance `@tensorflow/tfjs` resolves to (it re-exports
 * tfjs-core, and the wasm backend and tfjs-node register on that same core): import `tf` from
 * here or from '@tensorflow/tfjs', never from '@tensorflow/tfjs-core' directly.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { registerWasmTrainingKernels } from './wasmKernels.js';

export { tf };

/** What can be asked for: `auto` tries them in order. */
export const backendChoices = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof backendChoices)[number];
/** What runs: `node-gpu` and `node` are tfjs' `tensorflow` backend from the two native packages. */
export type BackendName = Exclude<BackendChoice, 'auto'>;

const choiceSchema = z.enum(backendChoices);

export interface SelectBackendOptions {
  /** Default: `SLUICE_TF_BACKEND`, else `auto`. */
  backend?: BackendChoice;
  logger?: Logger;
}

const nativePackages = { 'node-gpu': '@tensorflow/tfjs-node-gpu', node: '@tensorflow/tfjs-node' } as const;

/** The choice from `SLUICE_TF_BACKEND` (unset or empty: auto). */
export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const raw = env.SLUICE_TF_BACKEND;
  const parsed = choiceSchema.safeParse(raw === undefined || raw === '' ? 'auto' : raw.toLowerCase());
  if (!parsed.success) {
    throw new SluiceError(
      'SLUICE_CONFIG_INVALID',
      `SLUICE_TF_BACKEND must be one of ${backendChoices.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return parsed.data;
}

let selected: { choice: BackendChoice; name: Promise<BackendName> } | null = null;

/**
 * Makes the chosen backend tfjs' current one in this thread, logs it, and returns its name.
 * Asking again for the same choice (or for `auto` once one runs) returns the running one; a
 * different forced choice switches.
 */
export function selectBackend(options: SelectBackendOptions = {}): Promise<BackendName> {
  const choice = options.backend ?? backendFromEnv();
  if (selected && (choice === 'auto' || choice === selected.choice)) return selected.name;
  const log = options.logger ?? createLogger('ml');
  // Production mode: no debug checks, and no console banners (the cpu backend's "install
  // tfjs-node" note, a failed native package's "kernel already registered" warnings).
  tf.enableProdMode();
  const previous = selected;
  const attempt = { choice, name: choose(choice, log) };
  selected = attempt;
  // A failed switch leaves tfjs on the backend it had.
  attempt.name.catch(() => {
    if (selected === attempt) selected = previous;
  });
  return attempt.name;
}

async function choose(choice: BackendChoice, log: Logger): Promise<BackendName> {
  const order: BackendName[] = choice === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const name of order) {
    try {
      const details = await activate(name);
      log.info(
        { backend: name, tfBackend: tf.getBackend(), ...details, forced: choice !== 'auto' },
        'tfjs backend',
      );
      return name;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
      failures.push(`${name}: ${reason}`);
      log.debug({ backend: name, reason }, 'tfjs backend unavailable');
    }
  }
  throw new SluiceError(
    'SLUICE_ML_BACKEND_UNAVAILABLE',
    `no TensorFlow.js backend could start (${failures.join('; ')})`,
  );
}

async function activate(name: BackendName): Promise<Record<string, unknown>> {
  if (name === 'node-gpu' || name === 'node') {
    // A specifier in a variable: the packages are optional, and typecheck must not need them.
    const pkg: string = nativePackages[name];
    await import(pkg);
    // A copy of tfjs nested under the package would register its backend on another core.
    if (!tf.findBackendFactory('tensorflow')) {
      throw new Error(`${pkg} loaded but registered no 'tensorflow' backend on this tfjs instance`);
    }
    await setOrThrow('tensorflow');
    return { package: pkg };
  }
  if (name === 'wasm') {
    // In Node the backend reads its .wasm files from disk: point it at the package's dist/.
    const require = createRequire(import.meta.url);
    setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    registerWasmTrainingKernels();
    await setOrThrow('wasm');
    return {
      simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
      threads: getThreadsCount(),
    };
  }
  await setOrThrow('cpu');
  return {};
}

async function setOrThrow(backend: string): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`tf.setBackend('${backend}') failed`);
  await tf.ready();
}
