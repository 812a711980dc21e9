/**
 * Transactions: kafkajs transactional produce (one transaction per 1,000 records) against
 * plain produce of the same records, both acks=-1 and one request in flight, same broker.
 *
 *   npm run bench -- transactions [--records 200000] [--repeat 3] [--json]
 *
 * The broker runs compiled in its own process (fsync per produce and per transaction
 * state change). Each run uses a fresh topic; the transactional run is checked with a
 * read_committed consumer seeing exactly every record.
 */
import { parseArgs } from 'node:util';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { ensureCompiledBroker, startBrokerProcess } from './lib/brokerProcess.js';
import { machineInfo } from './lib/machine.js';
import { tempDir } from './lib/proc.js';
import { benchCase, printReport, progress } from './lib/report.js';
import { median, nowMs, perSec } from './lib/stats.js';

const { values: opt } = parseArgs({
  options: {
    records: { type: 'string', default: '200000' },
    'per-transaction': { type: 'string', default: '1000' },
    repeat: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const records = Number(opt.records);
const perTxn = Number(opt['per-transaction']);
const repeat = Number(opt.repeat);
const PARTITIONS = 3;

const kafka = (bootstrap: string) =>
  new Kafka({
    clientId: 'sluice-bench-txn',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    retry: { retries: 5 },
  });

function batches(): { key: string; value: Buffer }[][] {
  const value = Buffer.alloc(200, 'x');
  const out: { key: string; value: Buffer }[][] = [];
  for (let i = 0; i < records; i += perTxn) {
    out.push(
      Array.from({ length: Math.min(perTxn, records - i) }, (_, j) => ({ key: `k${(i + j) % 1000}`, value })),
    );
  }
  return out;
}

async function plain(bootstrap: string, topic: string, work: ReturnType<typeof batches>): Promise<number> {
  const producer = kafka(bootstrap).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  const start = nowMs();
  for (const messages of work) await producer.send({ topic, acks: -1, messages });
  const ms = nowMs() - start;
  await producer.disconnect();
  return ms;
}

async function transactional(
  bootstrap: string,
  topic: string,
  work: ReturnType<typeof batches>,
): Promise<number> {
  const producer = kafka(bootstrap).producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    transactionalId: `bench-${topic}`,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  const start = nowMs();
  for (const messages of work) {
    const txn = await producer.transaction();
    await txn.send({ topic, acks: -1, messages });
    await txn.commit();
  }
  const ms = nowMs() - start;
  await producer.disconnect();
  return ms;
}

/** Every record is visible to read_committed: nothing lost, nothing left open. */
async function countCommitted(bootstrap: string, topic: string): Promise<void> {
  const consumer = kafka(bootstrap).consumer({
    groupId: `verify-${topic}`,
    maxBytes: 50 << 20,
    maxWaitTimeInMs: 200,
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read_committed saw ${seen} of ${records}`)), 120_000);
    consumer.run({
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= records) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  if (seen !== records) throw new Error(`read_committed saw ${seen} records, expected ${records}`);
}

async function main(): Promise<void> {
  ensureCompiledBroker();
  const machine = machineInfo();
  const work = batches();
  const dir = tempDir('sluice-bench-txn-');
  const plainMs: number[] = [];
  const txnMs: number[] = [];
  try {
    const broker = await startBrokerProcess({ dataDir: dir.path });
    try {
      const admin = kafka(broker.bootstrap).admin();
      await admin.connect();
      for (let round = 1; round <= repeat; round++) {
        const p = `plain-${round}`;
        const t = `txn-${round}`;
        await admin.createTopics({ topics: [p, t].map((topic) => ({ topic, numPartitions: PARTITIONS })) });
        plainMs.push(await plain(broker.bootstrap, p, work));
        txnMs.push(await transactional(broker.bootstrap, t, work));
        await countCommitted(broker.bootstrap, t);
        progress(
          `  run ${round}/${repeat}: plain ${Math.round(perSec(records, plainMs.at(-1)!))} rec/s, ` +
            `transactional ${Math.round(perSec(records, txnMs.at(-1)!))} rec/s`,
        );
      }
      await admin.disconnect();
    } finally {
      await broker.stop();
    }
  } finally {
    dir.remove();
  }
  printReport(
    {
      title: 'Transactions: kafkajs transactional produce vs plain produce',
      machine,
      cases: [
        benchCase(
          'kafkajs produce transactional',
          'records/s',
          perSec(records, median(plainMs)),
          perSec(records, median(txnMs)),
        ),
      ],
      notes: [
        `${records.toLocaleString('en-US')} records of 200 B over ${PARTITIONS} partitions, ${perTxn} records per send / per transaction, one request in flight, median of ${repeat}`,
        'baseline: plain produce (acks=-1) of the same sends; sluice: each send inside its own transaction (InitProducerId once; AddPartitionsToTxn, Produce, EndTxn with markers per transaction)',
      ],
    },
    opt.json,
  );
}

await main();
