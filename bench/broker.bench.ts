/**
 * The embedded broker's throughput with real Kafka clients: 1,000,000 records of 200 bytes
 * produced, then consumed, by kcat (librdkafka) and by kafkajs, against `sluice broker`
 * running in its own process (compiled, `node dist/engine/cli.js`). The baseline (ceiling)
 * is the same bytes written to a file and fsynced at the end, then read back, by one
 * process on the same disk, so ratio = sluice MB/s / file MB/s for the same direction.
 *
 *   npm run bench -- broker [--repeat 3] [--json] [--clients kcat,kafkajs] [--profile]
 *
 * Every round: file write, file read, then per client a fresh broker + data directory:
 * create the topic, produce (timed), check the end offsets sum to the record count, restart
 * the broker on the same directory (so each case gets its own process and CPU profile),
 * consume from the beginning (timed), check every record arrived, remove the directory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Consumer, Kafka, type logCreator, logLevel, Partitioners, type Producer } from 'kafkajs';
import { type BrokerCommand, ensureCompiledBroker, startBrokerProcess } from './lib/brokerProcess.js';
import { cpuMeter, formatCpu } from './lib/cpu.js';
import { formatProfile, type ProfileSlice, summarizeProfiles } from './lib/cpuprofile.js';
import { kcatVersion, machineInfo } from './lib/machine.js';
import { runCleanups, runTimed, tempDir } from './lib/proc.js';
import { type BenchCase, benchCase, printReport, progress } from './lib/report.js';
import { mbPerSec, median, nowMs, perSec } from './lib/stats.js';

const root = new URL('..', import.meta.url).pathname;

function usageError(message: string): never {
  process.stderr.write(`bench broker: ${message} (--help lists the options)\n`);
  process.exit(2);
}

const parsed = (() => {
  try {
    return parseArgs({ options: optionSpec(), strict: true });
  } catch (err) {
    usageError(err instanceof Error ? err.message : String(err));
  }
})();
const opt = parsed.values;

function optionSpec() {
  return {
    json: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    records: { type: 'string', default: '1000000' },
    'record-size': { type: 'string', default: '200' },
    partitions: { type: 'string', default: '3' },
    clients: { type: 'string', default: 'kcat,kafkajs' },
    broker: { type: 'string', default: 'dist' },
    profile: { type: 'boolean', default: false },
    'profile-dir': { type: 'string' },
    'kafkajs-batch': { type: 'string', default: '1000' },
    'kafkajs-inflight': { type: 'string', default: '8' },
    'file-chunk': { type: 'string', default: String(1 << 20) },
    help: { type: 'boolean', default: false },
  } as const;
}

if (opt.help) {
  process.stderr.write(`npm run bench -- broker [options]
  --repeat N            runs per case; the table shows medians (default 3)
  --records N           records per case (default 1000000)
  --record-size B       value bytes per record (default 200)
  --partitions P        partitions of each case's topic (default 3)
  --clients LIST        kcat,kafkajs (default both)
  --broker dist|tsx     run the compiled broker (default; rebuilt when stale) or engine/cli.ts via tsx
  --profile             run each broker under node --cpu-prof and print its hot functions (stderr)
  --profile-dir DIR     where the .cpuprofile files go (default bench/.out/profiles/<time>)
  --kafkajs-batch N     messages per producer.send (default 1000)
  --kafkajs-inflight N  producer.send calls in flight (default 8)
  --file-chunk B        write/read size of the file baseline (default 1 MiB)
  --json                print only {"cases":[...]} on stdout
`);
  process.exit(0);
}

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usageError(`--${name} expects an integer >= ${min}, got "${v}"`);
  return n;
}

const repeat = int('repeat', opt.repeat, 1);
const records = int('records', opt.records, 1);
const recordSize = int('record-size', opt['record-size'], 1);
const partitions = int('partitions', opt.partitions, 1);
const kjsBatch = int('kafkajs-batch', opt['kafkajs-batch'], 1);
const kjsInflight = int('kafkajs-inflight', opt['kafkajs-inflight'], 1);
const fileChunk = int('file-chunk', opt['file-chunk'], 4096);
const clients = opt.clients.split(',').map((s) => s.trim());
for (const c of clients) if (c !== 'kcat' && c !== 'kafkajs') usageError(`unknown client "${c}"`);
if (opt.broker !== 'dist' && opt.broker !== 'tsx') usageError('--broker expects dist or tsx');
const brokerCommand = opt.broker as BrokerCommand;
const payloadBytes = records * recordSize;

/** kafkajs consumer fetch sizes: large enough that a fetch is never the limit. */
const KJS_MAX_BYTES_PER_PARTITION = 10 * 1024 * 1024;
const KJS_MAX_BYTES = 50 * 1024 * 1024;
const KCAT_PRODUCE_X = ['linger.ms=5', 'batch.size=1000000'];

// ---------------------------------------------------------------------------------------
// Data: one buffer of printable random bytes; kcat reads it as newline-separated lines.

function makePayload(): Buffer {
  const alphabet = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_');
  const buf = Buffer.allocUnsafe(payloadBytes);
  let x = 0x9e3779b9;
  for (let i = 0; i < payloadBytes; i++) {
    // xorshift32: fast, and random enough that nothing compresses or deduplicates it.
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = alphabet[x & 63];
  }
  return buf;
}

function writeLinesFile(path: string, payload: Buffer): void {
  const fd = openSync(path, 'w');
  try {
    const per = Math.max(1, Math.floor((1 << 20) / (recordSize + 1)));
    const chunk = Buffer.allocUnsafe(per * (recordSize + 1));
    for (let i = 0; i < records; i += per) {
      const n = Math.min(per, records - i);
      for (let j = 0; j < n; j++) {
        payload.copy(chunk, j * (recordSize + 1), (i + j) * recordSize, (i + j + 1) * recordSize);
        chunk[j * (recordSize + 1) + recordSize] = 0x0a;
      }
      writeSync(fd, chunk, 0, n * (recordSize + 1));
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------
// Baseline: the same bytes through a file by one process.

/** Returns the whole time and, inside it, the final fsync's share (the disk's part). */
function fileWrite(path: string, payload: Buffer): { ms: number; fsyncMs: number } {
  const start = nowMs();
  const fd = openSync(path, 'w');
  let fsyncMs = 0;
  try {
    for (let off = 0; off < payload.length; ) {
      off += writeSync(fd, payload, off, Math.min(fileChunk, payload.length - off));
    }
    const syncStart = nowMs();
    fsyncSync(fd);
    fsyncMs = nowMs() - syncStart;
  } finally {
    closeSync(fd);
  }
  return { ms: nowMs() - start, fsyncMs };
}

function fileRead(path: string): number {
  const buf = Buffer.allocUnsafe(fileChunk);
  const start = nowMs();
  const fd = openSync(path, 'r');
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      total += n;
    }
  } finally {
    closeSync(fd);
  }
  const ms = nowMs() - start;
  if (total !== payloadBytes) throw new Error(`file baseline read ${total} bytes, wrote ${payloadBytes}`);
  return ms;
}

// ---------------------------------------------------------------------------------------
// Clients.

/** kafkajs logs errors to stderr (its default logger writes to stdout, which --json owns). */
const stderrLog: logCreator =
  () =>
  ({ namespace, log }) => {
    const { message, ...extra } = log;
    process.stderr.write(`[kafkajs ${namespace}] ${message} ${JSON.stringify(extra)}\n`);
  };

function kafka(bootstrap: string): Kafka {
  return new Kafka({
    clientId: 'sluice-bench',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    logCreator: stderrLog,
    retry: { retries: 5 },
  });
}

async function createTopic(bootstrap: string, topic: string): Promise<void> {
  const admin = kafka(bootstrap).admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
    if (!created) throw new Error(`topic ${topic} already existed`);
  } finally {
    await admin.disconnect();
  }
}

/** Fails the bench unless the topic's end offsets add up to exactly `records`. */
async function verifyEndOffsets(bootstrap: string, topic: string): Promise<void> {
  const admin = kafka(bootstrap).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const sum = offsets.reduce((s, p) => s + Number(p.high), 0);
    if (offsets.length !== partitions || sum !== records) {
      throw new Error(
        `${topic}: end offsets ${offsets.map((p) => `${p.partition}:${p.low}-${p.high}`).join(' ')} sum to ${sum}, expected ${records}`,
      );
    }
  } finally {
    await admin.disconnect();
  }
}

/** A timed client run; `childCpuMs` is the client's CPU when it ran in its own process. */
interface Timing {
  ms: number;
  childCpuMs?: number | null;
  /** Shown with the run: what part of `ms` was not streaming (e.g. the group join). */
  detail?: string;
}

async function kcatProduce(bootstrap: string, topic: string, linesFile: string): Promise<Timing> {
  const x = KCAT_PRODUCE_X.flatMap((kv) => ['-X', kv]);
  const r = await runTimed('kcat', ['-P', '-b', bootstrap, '-t', topic, '-l', linesFile, ...x], {
    timeoutMs: 300_000,
    cpu: true,
  });
  if (r.code !== 0) throw new Error(`kcat produce exited with ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  return { ms: r.ms, childCpuMs: r.cpuMs };
}

/**
 * `-f '%S\n'` prints each record's value size instead of the value: the count and the byte
 * sum are checked without pushing 200 MB through a pipe into this (CPU-sharing) process.
 * `-c records` ends kcat at the last record, as the kafkajs case ends; `-e` alone would add
 * one fetch.wait.max.ms (500 ms) long poll at the end (kcat learns of EOF only from a fetch
 * at the high watermark, which any Kafka broker holds for max wait) and still guards
 * against a short topic: kcat then exits early and the count check fails.
 */
async function kcatConsume(bootstrap: string, topic: string): Promise<Timing> {
  let count = 0;
  let bytes = 0;
  let current = 0;
  const r = await runTimed(
    'kcat',
    ['-C', '-b', bootstrap, '-t', topic, '-o', 'beginning', '-e', '-c', String(records), '-q', '-f', '%S\\n'],
    {
      timeoutMs: 300_000,
      cpu: true,
      onStdout: (chunk) => {
        for (let i = 0; i < chunk.length; i++) {
          const c = chunk[i];
          if (c === 0x0a) {
            count++;
            bytes += current;
            current = 0;
          } else current = current * 10 + (c - 48);
        }
      },
    },
  );
  if (r.code !== 0) throw new Error(`kcat consume exited with ${r.code ?? r.signal}: ${r.stderr.trim()}`);
  if (count !== records || bytes !== payloadBytes) {
    throw new Error(`kcat consumed ${count} records / ${bytes} bytes, expected ${records} / ${payloadBytes}`);
  }
  return { ms: r.ms, childCpuMs: r.cpuMs };
}

async function kafkajsProduce(bootstrap: string, topic: string, payload: Buffer): Promise<Timing> {
  const messages = new Array<{ value: Buffer }>(records);
  for (let i = 0; i < records; i++)
    messages[i] = { value: payload.subarray(i * recordSize, (i + 1) * recordSize) };
  const producer: Producer = kafka(bootstrap).producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    let next = 0;
    const start = nowMs();
    const worker = async () => {
      while (next < records) {
        const from = next;
        next = Math.min(records, next + kjsBatch);
        await producer.send({ topic, acks: -1, messages: messages.slice(from, next) });
      }
    };
    await Promise.all(Array.from({ length: kjsInflight }, worker));
    return { ms: nowMs() - start };
  } finally {
    await producer.disconnect();
  }
}

async function kafkajsConsume(bootstrap: string, topic: string): Promise<Timing> {
  const consumer: Consumer = kafka(bootstrap).consumer({
    groupId: `bench-${topic}`,
    maxBytesPerPartition: KJS_MAX_BYTES_PER_PARTITION,
    maxBytes: KJS_MAX_BYTES,
    minBytes: 1,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  let count = 0;
  let bytes = 0;
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const start = nowMs();
    let ms = 0;
    let firstMs = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`kafkajs consumed ${count} of ${records} records in 300 s`)),
        300_000,
      );
      consumer.on(consumer.events.CRASH, (e) => {
        clearTimeout(timer);
        reject(e.payload.error);
      });
      consumer
        .run({
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch }) => {
            if (firstMs === 0) firstMs = nowMs() - start;
            for (const m of batch.messages) {
              count++;
              bytes += m.value?.length ?? 0;
            }
            if (count >= records && ms === 0) {
              ms = nowMs() - start;
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
    await consumer.stop();
    if (count !== records || bytes !== payloadBytes) {
      throw new Error(
        `kafkajs consumed ${count} records / ${bytes} bytes, expected ${records} / ${payloadBytes}`,
      );
    }
    return { ms, detail: `first batch after ${firstMs.toFixed(0)} ms (group join + first fetch)` };
  } finally {
    await consumer.disconnect();
  }
}

// ---------------------------------------------------------------------------------------

type CaseName = 'kcat produce' | 'kcat consume' | 'kafkajs produce' | 'kafkajs consume';

async function main(): Promise<void> {
  const kcat = kcatVersion();
  if (clients.includes('kcat') && !kcat) throw new Error('kcat not found on PATH (apt-get install kcat)');
  const machine = machineInfo(kcat ? { kcat } : {});
  if (machine.loadAtStart > 0.5) {
    progress(
      `bench: load average ${machine.loadAtStart} at start: other work shares the ${machine.cores} cores ` +
        'and will lower the results (see "other" in the per-run CPU split)',
    );
  }
  if (brokerCommand === 'dist') ensureCompiledBroker();
  process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

  const work = tempDir('sluice-bench-');
  const profileDir = opt.profile
    ? (opt['profile-dir'] ??
      join(root, 'bench/.out/profiles', new Date().toISOString().replace(/[:.]/g, '-')))
    : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  progress(
    `bench broker: ${records.toLocaleString('en-US')} records x ${recordSize} B, ${partitions} partitions, ` +
      `${repeat} run(s), broker ${brokerCommand}, data in ${work.path}`,
  );
  const payload = makePayload();
  const linesFile = join(work.path, 'records.txt');
  if (clients.includes('kcat')) writeLinesFile(linesFile, payload);

  const times: Record<'file write' | 'file read' | CaseName, number[]> = {
    'file write': [],
    'file read': [],
    'kcat produce': [],
    'kcat consume': [],
    'kafkajs produce': [],
    'kafkajs consume': [],
  };
  const report = (round: number, name: string, ms: number, cpu?: string) =>
    progress(
      `  run ${round}/${repeat}  ${name.padEnd(16)} ${(ms / 1000).toFixed(2).padStart(6)} s ` +
        `${mbPerSec(payloadBytes, ms).toFixed(1).padStart(7)} MB/s ` +
        `${Math.round(perSec(records, ms)).toLocaleString('en-US').padStart(10)} rec/s${cpu ? `  ${cpu}` : ''}`,
    );
  const profiles = new Map<CaseName, ProfileSlice[]>();

  for (let round = 1; round <= repeat; round++) {
    const baseFile = join(work.path, 'baseline.bin');
    const written = fileWrite(baseFile, payload);
    times['file write'].push(written.ms);
    report(round, 'file write', written.ms, `of which the final fsync ${written.fsyncMs.toFixed(0)} ms`);
    times['file read'].push(fileRead(baseFile));
    report(round, 'file read', times['file read'].at(-1)!);
    rmSync(baseFile, { force: true });

    for (const client of clients) {
      const dataDir = join(work.path, `data-${client}-${round}`);
      const topic = `bench-${client}-${round}`;
      const phase = async (name: CaseName, body: (bootstrap: string) => Promise<Timing>) => {
        const profName = `${name.replace(' ', '-')}-${round}.cpuprofile`;
        let window = { startUs: 0, endUs: 0 };
        const broker = await startBrokerProcess({
          dataDir,
          command: brokerCommand,
          cpuProfile: profileDir ? { dir: profileDir, name: profName } : undefined,
        });
        try {
          if (name.endsWith('produce')) await createTopic(broker.bootstrap, topic);
          const meter = cpuMeter(broker.pid);
          const startUs = Number(process.hrtime.bigint() / 1000n);
          const { ms, childCpuMs, detail } = await body(broker.bootstrap);
          window = { startUs, endUs: Number(process.hrtime.bigint() / 1000n) };
          const cpu = meter(childCpuMs);
          if (name.endsWith('produce')) await verifyEndOffsets(broker.bootstrap, topic);
          times[name].push(ms);
          report(round, name, ms, detail ? `${formatCpu(cpu)}; ${detail}` : formatCpu(cpu));
        } finally {
          await broker.stop();
        }
        if (profileDir) {
          const slices = profiles.get(name) ?? [];
          slices.push({ file: join(profileDir, profName), window });
          profiles.set(name, slices);
        }
      };
      if (client === 'kcat') {
        await phase('kcat produce', (bs) => kcatProduce(bs, topic, linesFile));
        await phase('kcat consume', (bs) => kcatConsume(bs, topic));
      } else {
        await phase('kafkajs produce', (bs) => kafkajsProduce(bs, topic, payload));
        await phase('kafkajs consume', (bs) => kafkajsConsume(bs, topic));
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const rate = (ms: number[]) => mbPerSec(payloadBytes, median(ms));
  const recRate = (ms: number[]) => perSec(records, median(ms));
  const cases: BenchCase[] = [];
  const names: CaseName[] = [];
  if (clients.includes('kcat')) names.push('kcat produce', 'kcat consume');
  if (clients.includes('kafkajs')) names.push('kafkajs produce', 'kafkajs consume');
  for (const name of names) {
    const base = name.endsWith('produce') ? times['file write'] : times['file read'];
    cases.push(benchCase(name, 'MB/s', rate(base), rate(times[name])));
    cases.push(benchCase(name, 'records/s', recRate(base), recRate(times[name])));
  }

  printReport(
    {
      title: `broker: ${records.toLocaleString('en-US')} records of ${recordSize} B, median of ${repeat}`,
      machine,
      cases,
      notes: [
        `baseline: the same ${payloadBytes / 1e6} MB written to a file in ${fileChunk / 1024} KiB writes + one fsync (produce rows), ` +
          'then read back in the same chunks from the page cache (consume rows); records/s = MB/s / record size',
        `sluice: \`sluice broker\` in its own process (${brokerCommand === 'dist' ? 'node dist/engine/cli.js' : 'tsx engine/cli.ts'}), ` +
          `default durability (fsync before each produce response), fresh ${partitions}-partition topic per client and run; ` +
          'MB/s counts record values only, 1 MB = 10^6 B',
        `kcat produce: kcat -P -l <file> ${KCAT_PRODUCE_X.map((x) => `-X ${x}`).join(' ')} (acks=all); ` +
          `kcat consume: kcat -C -o beginning -e -c ${records} -q -f '%S\\n' (count and size of every record checked)`,
        `kafkajs produce: producer.send of ${kjsBatch} messages, ${kjsInflight} sends in flight, acks=-1; ` +
          `kafkajs consume: eachBatch, fromBeginning, maxBytesPerPartition ${KJS_MAX_BYTES_PER_PARTITION / 2 ** 20} MiB, ` +
          `maxBytes ${KJS_MAX_BYTES / 2 ** 20} MiB, timed from run() to the last record`,
      ],
    },
    opt.json,
  );

  for (const [name, slices] of profiles) {
    try {
      const title = `broker profile, ${name}, timed phase only`;
      progress(`\n${formatProfile(title, summarizeProfiles(slices, 15))}`);
    } catch (err) {
      progress(`no profile for ${name}: ${err instanceof Error ? err.message : err}`);
    }
  }
  if (profileDir) progress(`\nprofiles in ${profileDir} (open in Chrome DevTools or speedscope)`);
}

main().then(
  () => {
    runCleanups();
    process.exit(0);
  },
  (err) => {
    progress(`bench broker failed: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    runCleanups();
    process.exit(1);
  },
);
