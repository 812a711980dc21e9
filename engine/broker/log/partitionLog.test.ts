import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeRecords, encodeBatch } from '../../protocol/recordBatch.js';
import type { LogConfig } from './logConfig.js';
import { OffsetOutOfRangeError, PartitionLog } from './partitionLog.js';

const config = (over: Partial<LogConfig> = {}): LogConfig => ({
  cleanupPolicy: { delete: true, compact: false },
  retentionMs: -1,
  retentionBytes: -1,
  segmentBytes: 1 << 30,
  segmentMs: Number.MAX_SAFE_INTEGER,
  deleteRetentionMs: 86_400_000,
  indexIntervalBytes: 4096,
  maxMessageBytes: 1 << 20,
  flushMessages: 1,
  flushMs: Number.MAX_SAFE_INTEGER,
  minCleanableDirtyRatio: 0.5,
  ...over,
});

function batch(values: string[], opts: { keys?: (string | null)[]; timestamp?: number } = {}): Buffer {
  const ts = opts.timestamp ?? 1_700_000_000_000;
  return encodeBatch({
    baseOffset: 0,
    records: values.map((v, i) => ({
      offset: i,
      timestamp: ts + i,
      key: opts.keys?.[i] != null ? Buffer.from(opts.keys[i]!) : null,
      value: v === '<tombstone>' ? null : Buffer.from(v),
      headers: [],
    })),
  });
}

function readAll(log: PartitionLog, from = log.logStartOffset): { offset: number; value: string | null }[] {
  const out: { offset: number; value: string | null }[] = [];
  let offset = from;
  while (offset < log.logEndOffset) {
    const { chunks } = log.read(offset, 64 * 1024);
    if (chunks.length === 0) break;
    const buf = Buffer.concat(chunks);
    let pos = 0;
    while (pos < buf.length) {
      const size = 12 + buf.readInt32BE(pos + 8);
      for (const r of decodeRecords(buf.subarray(pos, pos + size))) {
        if (r.offset >= offset) out.push({ offset: r.offset, value: r.value ? r.value.toString() : null });
      }
      pos += size;
    }
    offset = out.length > 0 ? out[out.length - 1].offset + 1 : offset + 1;
  }
  return out;
}

describe('PartitionLog', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('assigns consecutive offsets and reads whole batches back', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config(), true);
    const a = log.append([batch(['a', 'b', 'c'])]);
    const b = log.append([batch(['d', 'e'])]);
    await Promise.all([a.durable, b.durable]);
    assert.equal(a.baseOffset, 0);
    assert.equal(b.baseOffset, 3);
    assert.equal(log.logEndOffset, 5);
    assert.deepEqual(
      readAll(log).map((r) => r.value),
      ['a', 'b', 'c', 'd', 'e'],
    );
    // A read from the middle of a batch returns that batch whole.
    const mid = log.read(4, 1);
    assert.equal(decodeRecords(mid.chunks[0])[0].offset, 3);
    assert.throws(() => log.read(6, 100), OffsetOutOfRangeError);
    assert.deepEqual(log.read(5, 100).chunks, []);
    await log.close();
  });

  it('rolls segments, survives a clean reopen, and finds offsets by timestamp', async () => {
    const { log } = PartitionLog.open(
      dir,
      't',
      0,
      config({ segmentBytes: 300, indexIntervalBytes: 1 }),
      true,
    );
    for (let i = 0; i < 20; i++) await log.append([batch([`v${i}`], { timestamp: 1000 + i * 10 })]).durable;
    assert.ok(log.segmentCount > 3);
    await log.close();
    const { log: again } = PartitionLog.open(
      dir,
      't',
      0,
      config({ segmentBytes: 300, indexIntervalBytes: 1 }),
      true,
    );
    assert.equal(again.logEndOffset, 20);
    assert.equal(readAll(again).length, 20);
    assert.deepEqual(again.offsetForTimestamp(1055), { offset: 6, timestamp: 1060 });
    assert.deepEqual(again.offsetForTimestamp(0), { offset: 0, timestamp: 1000 });
    assert.equal(again.offsetForTimestamp(5000), null);
    await again.close();
  });

  it('truncates a torn tail to the last batch whose CRC verifies', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config(), true);
    await log.append([batch(['a', 'b'])]).durable;
    await log.append([batch(['c'])]).durable;
    const file = join(dir, readdirSync(dir).find((n) => n.endsWith('.log'))!);
    const good = statSync(file).size;
    // Simulate a crash in the middle of writing a third batch, and garbage after it.
    const third = batch(['d', 'e', 'f']);
    appendFileSync(file, third.subarray(0, third.length - 5));
    const { log: recovered, truncatedBytes } = PartitionLog.open(dir, 't', 0, config(), false);
    assert.equal(truncatedBytes, third.length - 5);
    assert.equal(statSync(file).size, good);
    assert.equal(recovered.logEndOffset, 3);
    assert.deepEqual(
      readAll(recovered).map((r) => r.value),
      ['a', 'b', 'c'],
    );
    // A corrupted byte inside the last batch is caught by its CRC.
    truncateSync(file, good - 1);
    appendFileSync(file, Buffer.from([0xff]));
    const { log: again } = PartitionLog.open(dir, 't', 0, config(), false);
    assert.equal(again.logEndOffset, 2);
    await Promise.all([recovered.close(), again.close()]);
  });

  it('deleteRecordsBefore moves the log start offset durably', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config({ segmentBytes: 200 }), true);
    for (let i = 0; i < 10; i++) await log.append([batch([`v${i}`])]).durable;
    assert.equal(log.deleteRecordsBefore(7), 7);
    assert.throws(() => log.read(6, 100), OffsetOutOfRangeError);
    assert.equal(readAll(log)[0].value, 'v7');
    assert.throws(() => log.deleteRecordsBefore(11), OffsetOutOfRangeError);
    await log.close();
    const { log: again } = PartitionLog.open(dir, 't', 0, config({ segmentBytes: 200 }), true);
    assert.equal(again.logStartOffset, 7);
    assert.equal(again.logEndOffset, 10);
    await again.close();
  });

  it('retention by time and by size drops whole old segments', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config({ segmentBytes: 150, retentionMs: 1000 }), true);
    for (let i = 0; i < 6; i++)
      await log.append([batch([`v${i}`], { timestamp: 10_000 + i * 1000 })]).durable;
    const segmentsBefore = log.segmentCount;
    log.enforceRetention(14_500);
    assert.ok(log.segmentCount < segmentsBefore);
    const left = readAll(log).map((r) => r.value);
    assert.equal(left[left.length - 1], 'v5');
    assert.ok(!left.includes('v0') && !left.includes('v1') && !left.includes('v2'));
    log.config = config({ segmentBytes: 150, retentionBytes: 100 });
    log.enforceRetention(14_500);
    assert.equal(log.segmentCount, 1);
    assert.equal(log.logEndOffset, 6);
    await log.close();
  });

  it('compaction keeps the latest value per key and drops expired tombstones', async () => {
    const cfg = config({
      cleanupPolicy: { delete: false, compact: true },
      segmentBytes: 200,
      deleteRetentionMs: 100,
    });
    const { log } = PartitionLog.open(dir, 't', 0, cfg, true);
    const ops: [string, string][] = [
      ['a', '1'],
      ['b', '1'],
      ['a', '2'],
      ['c', '1'],
      ['b', '<tombstone>'],
      ['a', '3'],
      ['d', '1'],
    ];
    for (const [k, v] of ops) await log.append([batch([v], { keys: [k], timestamp: 1000 })]).durable;
    log.roll();
    log.compact(1050);
    assert.deepEqual(readAll(log), [
      { offset: 3, value: '1' },
      { offset: 4, value: null },
      { offset: 5, value: '3' },
      { offset: 6, value: '1' },
    ]);
    log.compact(2000);
    assert.deepEqual(
      readAll(log).map((r) => r.offset),
      [3, 5, 6],
    );
    assert.equal(log.logEndOffset, 7);
    await log.close();
  });

  it('property: any sequence of batches reads back in order with exact offsets', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 8 }), {
          minLength: 1,
          maxLength: 30,
        }),
        fc.integer({ min: 100, max: 2000 }),
        async (batches, segmentBytes) => {
          const d = mkdtempSync(join(tmpdir(), 'sluice-prop-'));
          try {
            const { log } = PartitionLog.open(
              d,
              't',
              0,
              config({ segmentBytes, indexIntervalBytes: 64 }),
              true,
            );
            for (const values of batches) log.append([batch(values)]);
            const expected = batches.flat();
            const got = readAll(log);
            assert.deepEqual(
              got.map((r) => r.value),
              expected,
            );
            assert.deepEqual(
              got.map((r) => r.offset),
              expected.map((_, i) => i),
            );
            await log.close();
          } finally {
            rmSync(d, { recursive: true, force: true });
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
