import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  kafkajsReads,
  kafkajsRequest,
  kafkajsRequestBody,
  kafkajsResponse,
  messageSet,
  readRecords,
  recordBatch,
} from './harness.test.js';

test('harness: strips the kafkajs frame and request header', async () => {
  const req = kafkajsRequest('heartbeat', 0)({ groupId: 'g', groupGenerationId: 3, memberId: 'm' });
  const body = await kafkajsRequestBody(req);
  assert.deepEqual(body, Buffer.from([0, 1, 0x67, 0, 0, 0, 3, 0, 1, 0x6d]));
});

test('harness: notices a response body kafkajs does not read to its end', async () => {
  const body = Buffer.from([0, 0, 0, 0]); // Heartbeat v0 errorCode plus two stray bytes
  await assert.rejects(kafkajsReads(kafkajsResponse('heartbeat', 0), body), /did not stop at the end/);
  await kafkajsReads(kafkajsResponse('heartbeat', 0), body.subarray(0, 2));
});

test('harness: legacy message sets and record batches read back through kafkajs', async () => {
  const msgs = [
    { key: 'a', value: '1', timestamp: 1_700_000_000_000 },
    { key: null, value: '2', timestamp: 1_700_000_000_005 },
  ];
  assert.deepEqual(
    (await readRecords(messageSet(1, 40, msgs))).map((m) => m.offset),
    ['40', '41'],
  );
  const batch = await recordBatch(40, msgs);
  assert.deepEqual(await readRecords(batch), [
    { offset: '40', key: 'a', value: '1', timestamp: '1700000000000', headers: {} },
    { offset: '41', key: null, value: '2', timestamp: '1700000000005', headers: {} },
  ]);
});
