export {
  ChangeLoggingKeyValueStore,
  ChangeLoggingWindowStore,
  decodeWindowKey,
  encodeWindowKey,
  StateStoreError,
  type StateStoreErrorCode,
} from './changelogging.js';
export { LmdbKeyValueStore, type LmdbOpenOptions, LmdbWindowStore } from './lmdb.js';
export { MemoryKeyValueStore, MemoryWindowStore } from './memory.js';
export type { Bytes, ChangeRecord, KeyValueStore, StoreKind, StoreSpec, WindowStore } from './types.js';
