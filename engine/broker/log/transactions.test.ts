import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  CONTROL_BIT,
  decodeRecords,
  encodeBatch,
  readBatchHeader,
  TRANSACTIONAL_BIT,
} from '../../protocol/recordBatch.js';
import type { LogConfig } from './logConfig.js';
import { PartitionLog } from './partitionLog.js';

const config: LogConfig = {
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
};

function batch(values: string[], p: { pid: number; epoch: number; seq: number; txn?: boolean }): Buffer {
  return encodeBatch({
    baseOffset: 0,
    records: values.map((v, i) => ({
      offset: i,
      timestamp: 1000 + i,
      key: null,
      value: Buffer.from(v),
      headers: [],
    })),
    producerId: p.pid,
    producerEpoch: p.epoch,
    baseSequence: p.seq,
    attributes: p.txn ? TRANSACTIONAL_BIT : 0,
  });
}

function offsetsOf(
  log: PartitionLog,
  upTo = log.logEndOffset,
): { offset: number; value: string; control: boolean }[] {
  const out: { offset: number; value: string; control: boolean }[] = [];
  const { chunks } = log.read(log.logStartOffset, 1 << 20, upTo);
  const buf = Buffer.concat(chunks);
  for (let pos = 0; pos < buf.length; ) {
    const size = 12 + buf.readInt32BE(pos + 8);
    const b = buf.subarray(pos, pos + size);
    const control = (readBatchHeader(b).attributes & CONTROL_BIT) !== 0;
    for (const r of decodeRecords(b))
      out.push({ offset: r.offset, value: control ? 'marker' : r.value!.toString(), control });
    pos += size;
  }
  return out;
}

describe('idempotent and transactional appends', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-txn-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('acknowledges a retried batch with its first offsets and refuses gaps and old epochs', () => {
    const { log } = PartitionLog.open(dir, 't', 0, config, true);
    const first = log.appendProduced([batch(['a', 'b'], { pid: 7, epoch: 0, seq: 0 })]);
    assert.ok('baseOffset' in first && first.baseOffset === 0);
    const retry = log.appendProduced([batch(['a', 'b'], { pid: 7, epoch: 0, seq: 0 })]);
    assert.ok('baseOffset' in retry && retry.baseOffset === 0);
    assert.equal(log.logEndOffset, 2);
    const next = log.appendProduced([batch(['c'], { pid: 7, epoch: 0, seq: 2 })]);
    assert.ok('baseOffset' in next && next.baseOffset === 2);
    assert.deepEqual(log.appendProduced([batch(['e'], { pid: 7, epoch: 0, seq: 5 })]), {
      refused: 'out-of-order',
    });
    assert.deepEqual(log.appendProduced([batch(['x'], { pid: 8, epoch: 0, seq: 3 })]), {
      refused: 'out-of-order',
    });
    // A new epoch starts at sequence 0; the old epoch is fenced from then on.
    assert.ok('baseOffset' in log.appendProduced([batch(['d'], { pid: 7, epoch: 1, seq: 0 })]));
    assert.deepEqual(log.appendProduced([batch(['z'], { pid: 7, epoch: 0, seq: 3 })]), { refused: 'fenced' });
    assert.deepEqual(
      offsetsOf(log).map((r) => r.value),
      ['a', 'b', 'c', 'd'],
    );
  });

  it('bounds the last stable offset by open transactions and lists aborted ones', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config, true);
    log.appendProduced([batch(['plain'], { pid: -1, epoch: -1, seq: -1 })]);
    log.appendProduced([batch(['t1-a'], { pid: 1, epoch: 0, seq: 0, txn: true })]); // offset 1
    log.appendProduced([batch(['t2-a'], { pid: 2, epoch: 0, seq: 0, txn: true })]); // offset 2
    log.appendProduced([batch(['t1-b'], { pid: 1, epoch: 0, seq: 1, txn: true })]); // offset 3
    assert.equal(log.lastStableOffset, 1);
    assert.deepEqual(
      offsetsOf(log, log.lastStableOffset).map((r) => r.value),
      ['plain'],
    );
    await log.appendControl(1, 0, false); // abort t1 at offset 4
    assert.equal(log.lastStableOffset, 2);
    assert.deepEqual(log.producers.abortedBetween(0, 10), [{ producerId: 1, firstOffset: 1, lastOffset: 4 }]);
    await log.appendControl(2, 0, true); // commit t2 at offset 5
    assert.equal(log.lastStableOffset, 6);
    assert.ok(log.producers.isAborted(1, 3));
    assert.ok(!log.producers.isAborted(2, 2));
    assert.deepEqual(
      offsetsOf(log).map((r) => r.value),
      ['plain', 't1-a', 't2-a', 't1-b', 'marker', 'marker'],
    );
    // Clients cannot write control batches themselves.
    const forged = encodeBatch({
      baseOffset: 0,
      records: [{ offset: 0, timestamp: 1, key: Buffer.alloc(4), value: Buffer.alloc(6), headers: [] }],
      attributes: CONTROL_BIT | TRANSACTIONAL_BIT,
      producerId: 9,
      producerEpoch: 0,
    });
    assert.deepEqual(log.appendProduced([forged]), { refused: 'invalid' });
    await log.close();
  });

  it('rebuilds producer state from the log after a crash, as the snapshot has it after a clean stop', async () => {
    const { log } = PartitionLog.open(dir, 't', 0, config, true);
    log.appendProduced([batch(['a'], { pid: 3, epoch: 2, seq: 0 })]);
    log.appendProduced([batch(['b'], { pid: 4, epoch: 0, seq: 0, txn: true })]);
    log.appendProduced([batch(['c'], { pid: 5, epoch: 0, seq: 0, txn: true })]);
    await log.appendControl(5, 0, false);
    const expected = log.producers.snapshot(log.logEndOffset);
    await log.close();
    const clean = PartitionLog.open(dir, 't', 0, config, true).log;
    assert.deepEqual(clean.producers.snapshot(clean.logEndOffset), expected);
    const crashed = PartitionLog.open(dir, 't', 0, config, false).log;
    assert.deepEqual(crashed.producers.snapshot(crashed.logEndOffset), expected);
    assert.equal(crashed.lastStableOffset, 1);
    const dup = crashed.appendProduced([batch(['a'], { pid: 3, epoch: 2, seq: 0 })]);
    assert.ok('baseOffset' in dup && dup.baseOffset === 0);
    await Promise.all([clean.close(), crashed.close()]);
  });
});
