import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StateStoreError } from './changelogging.js';
import { LmdbKeyValueStore, LmdbWindowStore } from './lmdb.js';
import { MemoryKeyValueStore } from './memory.js';
import type { KeyValueStore } from './types.js';

const root = mkdtempSync(join(tmpdir(), 'sluice-lmdb-'));
after(() => rmSync(root, { recursive: true, force: true }));
const s = (text: string) => Buffer.from(text);
const text = (value: Buffer | undefined) => value?.toString();
const code = (expected: string) => (err: unknown) => err instanceof StateStoreError && err.code === expected;

/** Runs `body` in a child process that exits without closing its stores, as a crash would. */
function crashAfter(body: string): void {
  const lmdbModule = new URL('./lmdb.ts', import.meta.url).href;
  const script = `import { LmdbKeyValueStore } from ${JSON.stringify(lmdbModule)};\n${body}\nprocess.exit(0);`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: 'pipe',
  });
}

describe('LmdbKeyValueStore', () => {
  it('keeps values and the checkpoint across close and reopen', () => {
    const store = LmdbKeyValueStore.open(root, 'reopen');
    assert.equal(store.getCheckpoint(), null);
    store.put(s('a'), s('1'));
    store.put(s('b'), s('2'));
    store.delete(s('b'));
    store.setCheckpoint(41);
    store.close();

    const reopened = LmdbKeyValueStore.open(root, 'reopen');
    assert.equal(reopened.getCheckpoint(), 41);
    assert.equal(text(reopened.get(s('a'))), '1');
    assert.equal(reopened.get(s('b')), undefined);
    assert.equal(reopened.approximateSize(), 1);
    reopened.close();
  });

  it('forgets the checkpoint once the store is written past it', () => {
    const store = LmdbKeyValueStore.open(root, 'stale-checkpoint');
    store.setCheckpoint(7);
    store.flush();
    store.put(s('k'), s('after the checkpoint'));
    assert.equal(store.getCheckpoint(), null);
    store.close();
    const reopened = LmdbKeyValueStore.open(root, 'stale-checkpoint');
    assert.equal(reopened.getCheckpoint(), null);
    reopened.setCheckpoint(8);
    reopened.flush();
    assert.equal(reopened.getCheckpoint(), 8);
    reopened.close();
  });

  it('after a crash, holds the last flush and its checkpoint, so only the changelog tail replays', () => {
    crashAfter(`
      const store = LmdbKeyValueStore.open(${JSON.stringify(root)}, 'crash-buffered');
      store.put(Buffer.from('flushed'), Buffer.from('1'));
      store.setCheckpoint(10);
      store.flush();
      store.put(Buffer.from('buffered'), Buffer.from('2'));`);
    const store = LmdbKeyValueStore.open(root, 'crash-buffered');
    assert.equal(store.getCheckpoint(), 10);
    assert.equal(text(store.get(s('flushed'))), '1');
    assert.equal(store.get(s('buffered')), undefined);
    store.close();
  });

  it('with durableFlush off, a process crash still keeps the last flush and its checkpoint', () => {
    // No fsync: the commit is in the page cache, which outlives the process (not the machine).
    crashAfter(`
      const store = LmdbKeyValueStore.open(${JSON.stringify(root)}, 'crash-nosync', { durableFlush: false });
      store.put(Buffer.from('flushed'), Buffer.from('1'));
      store.setCheckpoint(7);
      store.flush();
      store.put(Buffer.from('buffered'), Buffer.from('2'));`);
    const store = LmdbKeyValueStore.open(root, 'crash-nosync');
    assert.equal(store.getCheckpoint(), 7);
    assert.equal(text(store.get(s('flushed'))), '1');
    assert.equal(store.get(s('buffered')), undefined);
    store.close();
  });

  it('after a crash with writes already moved into lmdb, has no checkpoint (state must be rebuilt)', () => {
    crashAfter(`
      const store = LmdbKeyValueStore.open(${JSON.stringify(root)}, 'crash-spilled', { writeBufferEntries: 2 });
      store.setCheckpoint(10);
      store.flush();
      for (const key of ['a', 'b', 'c']) store.put(Buffer.from(key), Buffer.from(key));`);
    const store = LmdbKeyValueStore.open(root, 'crash-spilled');
    assert.equal(store.getCheckpoint(), null);
    assert.equal(text(store.get(s('b'))), 'b');
    store.close();
  });

  it('destroy removes the directory; fresh opens wipe it', () => {
    const store = LmdbKeyValueStore.open(root, 'wiped');
    store.put(s('k'), s('v'));
    store.setCheckpoint(3);
    store.destroy();
    assert.equal(existsSync(join(root, 'wiped')), false);
    assert.throws(() => store.get(s('k')), code('SLUICE_STATE_CLOSED'));

    const again = LmdbKeyValueStore.open(root, 'wiped');
    assert.equal(again.get(s('k')), undefined);
    assert.equal(again.getCheckpoint(), null);
    again.put(s('k'), s('v'));
    again.setCheckpoint(4);
    again.close();
    const fresh = LmdbKeyValueStore.open(root, 'wiped', { fresh: true });
    assert.equal(fresh.approximateSize(), 0);
    assert.equal(fresh.getCheckpoint(), null);
    fresh.close();
  });

  it('refuses a second open of the same store, bad names, oversized keys and bad checkpoints', () => {
    const store = LmdbKeyValueStore.open(root, 'guarded');
    assert.throws(() => LmdbKeyValueStore.open(root, 'guarded'), code('SLUICE_STATE_ALREADY_OPEN'));
    assert.throws(() => LmdbKeyValueStore.open(root, '../escape'), code('SLUICE_STATE_INVALID_NAME'));
    assert.throws(() => store.put(Buffer.alloc(1978), s('v')), code('SLUICE_STATE_KEY_TOO_LARGE'));
    store.put(Buffer.alloc(1977, 1), s('largest key'));
    assert.equal(text(store.get(Buffer.alloc(1977, 1))), 'largest key');
    assert.equal(store.get(Buffer.alloc(5000)), undefined);
    assert.throws(() => store.setCheckpoint(-1), code('SLUICE_STATE_INVALID_CHECKPOINT'));
    store.close();
    store.close();
    LmdbKeyValueStore.open(root, 'guarded').close();
  });

  it('ranges with bounds longer than any storable key', () => {
    const store = LmdbKeyValueStore.open(root, 'long-bounds');
    const longest = Buffer.alloc(1977, 1);
    const sibling = Buffer.concat([Buffer.alloc(1976, 1), Buffer.from([2])]);
    for (const key of [Buffer.from([1]), longest, sibling, Buffer.from([2])]) store.put(key, s('v'));
    const keys = (range: Iterable<[Buffer, Buffer]>) => [...range].map(([k]) => `${k.length}:${k.at(-1)}`);
    assert.deepEqual(keys(store.range(Buffer.alloc(3000, 1))), ['1977:2', '1:2']);
    assert.deepEqual(keys(store.range(undefined, Buffer.alloc(3000, 1))), ['1:1', '1977:1']);
    store.destroy();
  });

  it('puts 1,000,000 keys and flushes with bounded memory', (t) => {
    const count = 1_000_000;
    const store = LmdbKeyValueStore.open(root, 'million');
    const value = Buffer.alloc(64, 0x2a);
    const rss = () => process.memoryUsage.rss();
    const before = rss();
    let peak = before;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      store.put(randomKey(i), value);
      if ((i & 0x3fff) === 0) peak = Math.max(peak, rss());
    }
    store.flush();
    const putSeconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, rss());
    const getSeconds = timeGets(store, count);
    assert.equal(store.approximateSize(), count);
    const growthMiB = (peak - before) / 2 ** 20;
    t.diagnostic(
      `lmdb, ${count} random 16-byte keys, 64-byte values: put+flush ${rate(count, putSeconds)}/s, ` +
        `get ${rate(count, getSeconds)}/s, peak RSS growth ${growthMiB.toFixed(0)} MiB${rssBreakdown()}`,
    );
    assert.ok(growthMiB < 512, `RSS grew by ${growthMiB.toFixed(0)} MiB`);
    store.destroy();
  });

  it('compares put and get rates with the memory store on the same 100,000 keys', (t) => {
    const count = 100_000;
    const value = Buffer.alloc(64, 0x2a);
    const measure = (store: KeyValueStore) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) store.put(randomKey(i), value);
      store.flush();
      const putSeconds = (performance.now() - started) / 1000;
      const getSeconds = timeGets(store, count);
      assert.equal(store.approximateSize(), count);
      store.close();
      return `put+flush ${rate(count, putSeconds)}/s, get ${rate(count, getSeconds)}/s`;
    };
    t.diagnostic(`memory, ${count} keys: ${measure(new MemoryKeyValueStore('memory'))}`);
    t.diagnostic(`lmdb, ${count} keys: ${measure(LmdbKeyValueStore.open(root, 'hundred-thousand'))}`);
  });
});

describe('LmdbWindowStore', () => {
  it('keeps windows, the expiry index and the checkpoint across close and reopen', () => {
    const store = LmdbWindowStore.open(root, 'windows');
    store.put(s('k'), 10, s('k@10'));
    store.put(s('k'), 20, s('k@20'));
    store.put(s('j'), 5, s('j@5'));
    store.delete(s('k'), 20);
    store.setCheckpoint(99);
    store.close();

    const reopened = LmdbWindowStore.open(root, 'windows');
    assert.equal(reopened.getCheckpoint(), 99);
    assert.deepEqual(
      [...reopened.fetch(s('k'), 0, 100)].map(([start, v]) => [start, v.toString()]),
      [[10, 'k@10']],
    );
    assert.deepEqual(
      [...reopened.expiredBefore(100)].map(([k, start]) => `${k}@${start}`),
      ['j@5', 'k@10'],
    );
    assert.equal(reopened.approximateSize(), 2);
    reopened.destroy();
  });

  it('merges buffered windows with stored ones in fetch', () => {
    const store = LmdbWindowStore.open(root, 'merge');
    for (const start of [0, 10, 20, 30]) store.put(s('k'), start, s(`stored ${start}`));
    store.flush();
    store.put(s('k'), 5, s('buffered 5'));
    store.put(s('k'), 20, s('buffered 20'));
    store.delete(s('k'), 30);
    store.put(s('k'), 40, s('buffered 40'));
    assert.deepEqual(
      [...store.fetch(s('k'), 0, 40)].map(([start, v]) => [start, v.toString()]),
      [
        [0, 'stored 0'],
        [5, 'buffered 5'],
        [10, 'stored 10'],
        [20, 'buffered 20'],
        [40, 'buffered 40'],
      ],
    );
    store.destroy();
  });

  it('rejects window starts that are not safe integers', () => {
    const store = LmdbWindowStore.open(root, 'bad-starts');
    assert.throws(() => store.put(s('k'), 1.5, s('v')), code('SLUICE_STATE_INVALID_WINDOW_START'));
    assert.throws(() => store.put(s('k'), 2 ** 53, s('v')), code('SLUICE_STATE_INVALID_WINDOW_START'));
    assert.equal(store.approximateSize(), 0);
    store.destroy();
  });
});

function randomKey(i: number): Buffer {
  const key = Buffer.allocUnsafe(16);
  key.writeUInt32BE(Math.imul(i, 2654435761) >>> 0, 0);
  key.writeUInt32BE(i, 4);
  key.fill(7, 8);
  return key;
}

function timeGets(store: KeyValueStore, count: number): number {
  const started = performance.now();
  let found = 0;
  for (let i = 0; i < count; i++) if (store.get(randomKey(i)) !== undefined) found++;
  assert.equal(found, count);
  return (performance.now() - started) / 1000;
}

function rate(count: number, seconds: number): string {
  return Math.round(count / seconds).toLocaleString('en-US');
}

/** RSS counts lmdb's memory-mapped file too; the anonymous part is the process's own memory. */
function rssBreakdown(): string {
  if (process.platform !== 'linux') return '';
  const status = readFileSync('/proc/self/status', 'utf8');
  const mib = (field: string) =>
    Math.round(Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))?.[1] ?? 0) / 1024);
  return ` (RSS now ${mib('RssAnon')} MiB anonymous + ${mib('RssFile')} MiB file-backed)`;
}
