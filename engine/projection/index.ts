export type { PartitionRange, WriteOutcome } from './batchWriter.js';
export { type BlueGreen, liveVersion, type ServedProjection } from './blueGreen.js';
export { deadLetterSerializer } from './deadLetters.js';
export {
  accumulate,
  type ColumnType,
  type ConflictPolicy,
  defaultTableName,
  type Emit,
  type EventContext,
  insertIgnore,
  type MergeOp,
  type ProjectionDefinition,
  type ProjectionSource,
  quoteIdent,
  type Row,
  source,
  type TableResolver,
  type TargetSpec,
  tableResolver,
  upsert,
  type ValueDecoder,
  validateDefinition,
} from './definition.js';
export { ProjectionError, type ProjectionErrorCode, RowRejectedError } from './errors.js';
export { type ProjectionMetrics, projectionMetrics } from './metrics.js';
export {
  type ProjectionRunnerFactory,
  ProjectionThreads,
  type ProjectionThreadsOptions,
} from './projectionThreads.js';
export { describeRebuild, executeRebuild, planRebuild, type RebuildPlan } from './rebuild.js';
export { ProjectionRunner, type ProjectionRunnerOptions } from './runner.js';
export {
  type PartitionStatus,
  type ProjectionErrorStatus,
  type ProjectionStatus,
  projectionStatus,
} from './status.js';
export { ProjectionSupervisor, type SupervisorOptions } from './supervisor.js';
export { type CopyFormat, TargetWriter, type WriteMode } from './targetWriter.js';
