import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

const require = createRequire(import.meta.url);

type Group = (args: {
  topic: string;
  partitionMetadata: { partitionId: number }[];
  messages: { key: string; partition?: number }[];
  partitioner: (args: { message: { partition?: number } }) => number;
}) => Record<number, { key: string }[]>;

// patches/kafkajs+2.2.4.patch, applied by `npm install` (postinstall: patch-package).
describe('the kafkajs patch', () => {
  it('is applied: sendBatch groups messages per partition in one pass', () => {
    const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');
    const group = require(path) as Group;
    assert.match(group.toString(), /for \(const message of messages\)/, `${path} is not patched`);
    const messages = Array.from({ length: 60_000 }, (_, i) => ({
      key: `k${i}`,
      partition: i % 3 === 0 ? 0 : 1,
    }));
    const grouped = group({
      topic: 't',
      partitionMetadata: [{ partitionId: 0 }, { partitionId: 1 }],
      messages,
      partitioner: ({ message }) => message.partition!,
    });
    assert.deepEqual(Object.keys(grouped), ['0', '1']);
    assert.deepEqual(
      grouped[0]!.map((m) => m.key),
      messages.filter((m) => m.partition === 0).map((m) => m.key),
    );
    assert.equal(grouped[1]!.length, 40_000);
  });

  it('is applied: merging topicMessages of one topic concatenates once', () => {
    const source = readFileSync(require.resolve('kafkajs/src/producer/messageProducer.js'), 'utf8');
    assert.match(source, /merged\[index\]\.messages\.concat\(messages\)/);
  });
});
