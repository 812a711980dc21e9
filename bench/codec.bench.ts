/**
 * Codec overhead: the Confluent-framed Avro serializer/deserializer against raw avsc
 * `toBuffer` / `fromBuffer` on the same values, in the same run.
 *
 *   npm run bench -- codec [--repeat 5] [--count 100000] [--json]
 *
 * Schema ids are resolved once through a real registry on the embedded broker; the timed
 * loops then measure framing, caching and resolution costs only, as in a consumer's hot path.
 */
import { parseArgs } from 'node:util';
import type avro from 'avsc';
import { startBroker } from '../engine/broker/index.js';
import { loadCatalogue } from '../engine/catalogue/index.js';
import { AvroDeserializer, AvroSerializer } from '../engine/codec/index.js';
import { RegistryClient, startRegistry } from '../engine/registry/index.js';
import { machineInfo } from './lib/machine.js';
import { tempDir } from './lib/proc.js';
import { type BenchCase, benchCase, printReport, progress } from './lib/report.js';
import { median, nowMs, perSec } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    repeat: { type: 'string', default: '5' },
    count: { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
  },
});
const repeat = Number(args.repeat);
const count = Number(args.count);
const EVENTS = [
  'sluice.sensors.SensorReadingRecorded',
  'sluice.inference.PredictionMade',
  'sluice.features.FeaturesComputed',
  'sluice.ingest.UploadReceived',
];

/**
 * Items per second of `base` and `ours` over the same items: passes alternate between the two
 * (after a warm-up of each) so load from elsewhere on the machine hits both alike; medians.
 */
function rates<A, B>(
  baseItems: A[],
  base: (item: A) => unknown,
  items: B[],
  ours: (item: B) => unknown,
): [number, number] {
  const pass = <T>(list: T[], fn: (item: T) => unknown) => {
    const t0 = nowMs();
    for (let i = 0; i < list.length; i++) fn(list[i]);
    return nowMs() - t0;
  };
  pass(baseItems, base);
  pass(items, ours);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < repeat; r++) {
    a.push(pass(baseItems, base));
    b.push(pass(items, ours));
  }
  return [perSec(baseItems.length, median(a)), perSec(items.length, median(b))];
}

async function main(): Promise<void> {
  const dir = tempDir('sluice-bench-codec-');
  const broker = await startBroker({ port: 0, dataDir: dir.path });
  const registryServer = await startRegistry({ port: 0, bootstrapServers: [broker.bootstrap] });
  const cases: BenchCase[] = [];
  try {
    const registry = new RegistryClient({ url: registryServer.url });
    const cat = loadCatalogue(new URL('../schemas', import.meta.url).pathname);
    for (const name of EVENTS) {
      const entry = cat.schemas.get(name)!;
      const short = name.split('.').pop()!;
      const type: avro.Type = entry.type;
      const valuesList = Array.from({ length: count }, () => type.random());
      const ser = new AvroSerializer(registry, `bench-${short}-value`, entry.json);
      await ser.schemaId();
      const de = new AvroDeserializer(registry, entry.json);
      const framed = valuesList.map((v) => ser.encodeSync(v));
      await de.load(framed[0].readInt32BE(1));
      const raw = valuesList.map((v) => type.toBuffer(v));
      progress(`codec: ${short}`);
      const [rawEncode, sluiceEncode] = rates(
        valuesList,
        (v) => type.toBuffer(v),
        valuesList,
        (v) => ser.encodeSync(v),
      );
      cases.push(benchCase(`${short} encode`, 'records/s', rawEncode, sluiceEncode));
      const [rawDecode, sluiceDecode] = rates(
        raw,
        (b) => type.fromBuffer(b),
        framed,
        (b) => de.decodeSync(b),
      );
      cases.push(benchCase(`${short} decode (reader schema)`, 'records/s', rawDecode, sluiceDecode));
      // The async entry point, as a consumer that has not preloaded schemas uses it.
      const t0 = nowMs();
      for (const b of framed) await de.decode(b);
      cases.push(
        benchCase(`${short} decode async`, 'records/s', rawDecode, perSec(framed.length, nowMs() - t0)),
      );
    }
  } finally {
    await registryServer.close();
    await broker.close();
    dir.remove();
  }
  printReport(
    {
      title: 'Codec: Confluent-framed Avro vs raw avsc',
      machine: machineInfo(),
      cases,
      notes: [
        `${count.toLocaleString('en-US')} random values per event (avsc Type.random()), median of ${repeat} passes after a warm-up, baseline and sluice passes alternating`,
        'baseline: avsc toBuffer/fromBuffer on the same values; sluice: encodeSync (5-byte header + body) and decodeSync/decode through a writer-to-reader resolver',
      ],
    },
    args.json,
  );
}

await main();
