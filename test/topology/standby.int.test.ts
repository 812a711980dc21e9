/**
 * Standby replicas on the embedded broker: two instances of one application, each keeping a
 * standby copy of the other's tasks from the changelogs. When one instance leaves, the other
 * takes its tasks over from the warm copies, restoring only what the standbys had not applied,
 * and the counts stay exact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import { topologyMetrics } from '../../engine/observability/metrics.js';
import { Serdes, StreamsApp, StreamsBuilder } from '../../engine/topology/index.js';
import { kafkaClient, tempDir, withBroker } from '../helpers/broker.js';
import { lastCounts, metricSum, produceClicks, until } from '../helpers/clicks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function committedAll(kafka: Kafka, groupId: string): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: ['clicks'] });
    const ends = await admin.fetchTopicOffsets('clicks');
    return ends.every(
      (e) =>
        Number(committed!.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) >=
        Number(e.high),
    );
  } finally {
    await admin.disconnect();
  }
}

describe('standby replicas', () => {
  it('a task moves to its warm standby and restores only the tail; counts stay exact', async () => {
    const env = await withBroker();
    const kafka = kafkaClient(env.bootstrap);
    const dirs = [tempDir('sluice-standby-a-'), tempDir('sluice-standby-b-')];
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({
      topics: [
        { topic: 'clicks', numPartitions: 4 },
        { topic: 'click-counts', numPartitions: 4 },
      ],
    });
    await admin.disconnect();
    const applicationId = 'standby-counts';
    const start = (i: number, reg: Registry) => {
      const b = new StreamsBuilder();
      b.stream('clicks', { key: Serdes.string(), value: Serdes.string() })
        .groupByKey()
        .count({ store: 'clicks-per-key', storeKind: 'lmdb' })
        .toStream()
        .to('click-counts', { key: Serdes.string(), value: Serdes.int64() });
      return StreamsApp.start({
        applicationId,
        kafka,
        topology: b.build(),
        stateDir: dirs[i]!.path,
        numStandbyReplicas: 1,
        metrics: topologyMetrics(reg),
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 500,
      });
    };
    const regA = new Registry();
    const regB = new Registry();
    let a: StreamsApp | null = null;
    let b: StreamsApp | null = null;
    try {
      a = await start(0, regA);
      b = await start(1, regB);
      await produceClicks(kafka, 4_000, 40);
      await until('every input offset committed', () => committedAll(kafka, applicationId));
      // Each instance keeps the other's two tasks warm.
      await until('two standby tasks on each instance', async () => {
        return (
          (await metricSum(regA, 'sluice_topology_standby_tasks')) === 2 &&
          (await metricSum(regB, 'sluice_topology_standby_tasks')) === 2
        );
      });
      // The standbys have applied the changelogs: their counters stop moving.
      let previous = -1;
      await until('B’s standbys to catch up', async () => {
        const now = await metricSum(regB, 'sluice_topology_standby_records_total');
        const settled = now > 0 && now === previous;
        previous = now;
        if (!settled) await sleep(400);
        return settled;
      });
      const standbyApplied = previous;
      const restoredBefore = await metricSum(regB, 'sluice_topology_restored_records_total');

      await a.close();
      a = null;
      await produceClicks(kafka, 4_000, 40);
      await until('B to commit every input offset', () => committedAll(kafka, applicationId), 60_000);

      const restored = (await metricSum(regB, 'sluice_topology_restored_records_total')) - restoredBefore;
      // A's final commit may add a few changelog records after the standby caught up; nothing more.
      assert.ok(
        restored < standbyApplied / 4,
        `B restored ${restored} changelog records on takeover, its standbys had applied ${standbyApplied}`,
      );
      const counts = await lastCounts(kafka);
      assert.equal(counts.size, 40);
      for (const [key, count] of counts) assert.equal(count, 200n, key);
    } finally {
      await a?.close();
      await b?.close();
      await env.stop();
      for (const d of dirs) d.remove();
    }
  });
});
