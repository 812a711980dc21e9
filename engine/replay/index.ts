export { type Progress, progress } from './progress.js';
export {
  type PartitionRange,
  type Position,
  parsePosition,
  ReplayError,
  readRanges,
  topicRanges,
} from './ranges.js';
export {
  describeReplay,
  executeReplay,
  planReplay,
  REPLAY_HEADERS,
  type ReplayPlan,
  type ReplayRequest,
} from './replay.js';
export { describeReset, executeReset, planReset, type ResetPlan, type ResetRequest } from './reset.js';
