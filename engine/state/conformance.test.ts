import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe } from 'node:test';
import { CachingKeyValueStore, CachingWindowStore } from './caching.js';
import { ChangeLoggingKeyValueStore, ChangeLoggingWindowStore } from './changelogging.js';
import { LmdbKeyValueStore, LmdbWindowStore } from './lmdb.js';
import { MemoryKeyValueStore, MemoryWindowStore } from './memory.js';
import { keyValueStoreConformance, windowStoreConformance } from './storeConformance.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-conformance-'));
after(() => rmSync(root, { recursive: true, force: true }));
let made = 0;
const fresh = () => `store-${++made}`;
const ignore = () => {};
/** A write buffer of 3 entries makes nearly every case move buffered writes into lmdb midway. */
const tiny = { writeBufferEntries: 3 };

describe('MemoryKeyValueStore', () => keyValueStoreConformance(() => new MemoryKeyValueStore(fresh())));
describe('LmdbKeyValueStore', () => keyValueStoreConformance(() => LmdbKeyValueStore.open(root, fresh())));
describe('LmdbKeyValueStore, 3-entry write buffer', () =>
  keyValueStoreConformance(() => LmdbKeyValueStore.open(root, fresh(), tiny)));
describe('ChangeLoggingKeyValueStore over memory', () =>
  keyValueStoreConformance(() => new ChangeLoggingKeyValueStore(new MemoryKeyValueStore(fresh()), ignore)));
describe('ChangeLoggingKeyValueStore over lmdb', () =>
  keyValueStoreConformance(
    () => new ChangeLoggingKeyValueStore(LmdbKeyValueStore.open(root, fresh()), ignore),
  ));

describe('CachingKeyValueStore over memory', () =>
  keyValueStoreConformance(() => new CachingKeyValueStore(new MemoryKeyValueStore(fresh()))));
describe('CachingKeyValueStore, 2-entry cache, over changelogging lmdb', () =>
  keyValueStoreConformance(
    () =>
      new CachingKeyValueStore(
        new ChangeLoggingKeyValueStore(LmdbKeyValueStore.open(root, fresh(), tiny), ignore),
        2,
      ),
  ));

describe('MemoryWindowStore', () => windowStoreConformance(() => new MemoryWindowStore(fresh())));
describe('LmdbWindowStore', () => windowStoreConformance(() => LmdbWindowStore.open(root, fresh())));
describe('LmdbWindowStore, 3-entry write buffer', () =>
  windowStoreConformance(() => LmdbWindowStore.open(root, fresh(), tiny)));
describe('ChangeLoggingWindowStore over memory', () =>
  windowStoreConformance(() => new ChangeLoggingWindowStore(new MemoryWindowStore(fresh()), ignore)));
describe('ChangeLoggingWindowStore over lmdb', () =>
  windowStoreConformance(() => new ChangeLoggingWindowStore(LmdbWindowStore.open(root, fresh()), ignore)));
describe('CachingWindowStore over memory', () =>
  windowStoreConformance(() => new CachingWindowStore(new MemoryWindowStore(fresh()))));
describe('CachingWindowStore, 2-entry cache, over changelogging lmdb', () =>
  windowStoreConformance(
    () =>
      new CachingWindowStore(
        new ChangeLoggingWindowStore(LmdbWindowStore.open(root, fresh(), tiny), ignore),
        2,
      ),
  ));
