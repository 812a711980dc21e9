export {
  type BackendChoice,
  type BackendName,
  backendChoices,
  backendFromEnv,
  type SelectBackendOptions,
  selectBackend,
  tf,
} from './backend.js';
export { LruCache, type LruCacheOptions } from './lruCache.js';
export {
  BatcherClosedError,
  BatcherOverloadedError,
  type BatchInfo,
  ItemFailure,
  MicroBatcher,
  type MicroBatcherMetrics,
  type MicroBatcherOptions,
  microBatcherMetrics,
} from './microBatcher.js';
export {
  fileSystem,
  type LoadModelOptions,
  loadModel,
  MODEL_JSON,
  ModelIoError,
  saveModel,
  WEIGHTS_BIN,
} from './modelIo.js';
export {
  createResultCache,
  MemoryResultCache,
  RedisResultCache,
  type ResultCache,
  type ResultCacheOptions,
} from './resultCache.js';
export {
  type CompileSpec,
  type EpochMetrics,
  loadTrainedModel,
  type ModelBuilder,
  type ModelSpec,
  type TensorData,
  type TrainedModel,
  type TrainInWorkerOptions,
  TrainingRun,
  trainInWorker,
} from './trainWorker.js';
export { registerWasmTrainingKernels, wasmTrainingKernelNames } from './wasmKernels.js';
