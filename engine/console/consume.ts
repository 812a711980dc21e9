import { parseArgs } from 'node:util';
import type { KafkaMessage } from 'kafkajs';
import type { Catalogue } from '../catalogue/index.js';
import { UsageError } from '../cli/usage.js';
import {
  AvroDeserializer,
  DecodeError,
  fromHeaders,
  parseForJson,
  schemaIdOf,
  toPlainJson,
} from '../codec/index.js';
import type { RegistryClient } from '../registry/client.js';
import { catalogue, commonOptions, connect } from './options.js';

export const consumeUsage = `  consume               print a topic's Avro records as JSON, one object per line
    --topic T               topic to read (required)
    --from-beginning        start at the earliest offset (default: the latest)
    --group G               consumer group (default: a new throwaway group)
    --max-messages N        stop after N records
    --timeout-ms MS         stop after MS without a record
    --print-headers         print {topic, partition, offset, timestamp, key, headers, value}
    --bootstrap-server H:P  --schema-registry URL  --catalogue-dir DIR`;

/**
 * Readers by event type: with the catalogue, each record decodes into the catalogue's schema
 * for its event type (the consumer's reader schema); otherwise with the writer's schema.
 */
class Readers {
  private byName = new Map<string, AvroDeserializer>();
  private readonly generic: AvroDeserializer;

  constructor(
    private readonly registry: RegistryClient,
    private readonly cat: Catalogue | null,
  ) {
    this.generic = new AvroDeserializer(registry);
  }

  for(eventType: string | null): AvroDeserializer {
    const entry = eventType ? this.cat?.schemas.get(eventType) : undefined;
    if (!entry || !eventType) return this.generic;
    let d = this.byName.get(eventType);
    if (!d) {
      d = new AvroDeserializer(this.registry, parseForJson(entry.json));
      this.byName.set(eventType, d);
    }
    return d;
  }
}

/** Like kafka-avro-console-consumer: undecodable records are reported on stderr and skipped. */
export async function consumeCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      topic: { type: 'string' },
      'from-beginning': { type: 'boolean', default: false },
      group: { type: 'string' },
      'max-messages': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'print-headers': { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.topic) throw new UsageError('consume needs --topic');
  const max =
    values['max-messages'] === undefined ? Number.POSITIVE_INFINITY : Number(values['max-messages']);
  const idle = values['timeout-ms'] === undefined ? 0 : Number(values['timeout-ms']);
  if (!(max > 0) || !(idle >= 0))
    throw new UsageError('--max-messages and --timeout-ms take positive numbers');
  let cat: Catalogue | null = null;
  try {
    cat = catalogue(values);
  } catch {
    cat = null;
  }
  const topic = values.topic;
  const { kafka, registry } = connect(values);
  const readers = new Readers(registry, cat);
  const consumer = kafka.consumer({
    groupId: values.group ?? `sluice-console-consumer-${process.pid}-${Date.now()}`,
    maxWaitTimeInMs: 250,
  });
  let seen = 0;
  let failed = 0;
  let timer: NodeJS.Timeout | null = null;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const armIdle = () => {
    if (idle <= 0) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(finish, idle);
  };
  process.once('SIGINT', () => finish());
  process.once('SIGTERM', () => finish());

  const print = async (partition: number, m: KafkaMessage) => {
    const origin = { topic, partition, offset: m.offset };
    const envelope = fromHeaders(m.headers);
    try {
      const payload = m.value ?? Buffer.alloc(0);
      const reader = readers.for(envelope?.eventType ?? null);
      const value = await reader.decode(payload, origin);
      const json = toPlainJson(await reader.valueType(schemaIdOf(payload)), value);
      if (!values['print-headers']) {
        process.stdout.write(`${JSON.stringify(json)}\n`);
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = String(v);
      const line = {
        topic,
        partition,
        offset: Number(m.offset),
        timestamp: Number(m.timestamp),
        key: m.key?.toString() ?? null,
        headers,
        value: json,
      };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      failed++;
      process.stderr.write(
        `${JSON.stringify({ error: err.message, code: err.code, topic, partition, offset: Number(m.offset) })}\n`,
      );
    }
  };

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: values['from-beginning'] });
  armIdle();
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (seen >= max) return;
      seen++;
      armIdle();
      await print(partition, message);
      if (seen >= max) finish();
    },
  });
  await done;
  if (timer) clearTimeout(timer);
  await consumer.disconnect();
  process.stderr.write(`processed ${seen} record(s)${failed ? `; ${failed} could not be decoded` : ''}\n`);
  if (failed > 0) process.exitCode = 1;
}
