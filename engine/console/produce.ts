import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type avro from 'avsc';
import type { Message } from 'kafkajs';
import { UsageError } from '../cli/usage.js';
import { AvroSerializer, fromPlainJson, newEnvelope, parseForJson, toHeaders } from '../codec/index.js';
import { catalogue, commonOptions, connect } from './options.js';

export const produceUsage = `  produce               read one JSON object per line from stdin, validate, produce as Avro
    --topic T               a topic of the catalogue (required)
    --key-field F           value field used as the record key (default: the catalogue's key field)
    --event-type NAME       Avro full name, for topics carrying several event types
    --bootstrap-server H:P  --schema-registry URL  --catalogue-dir DIR`;

interface Candidate {
  fullName: string;
  type: avro.Type;
  serializer: AvroSerializer;
  version: number | null;
}

const BATCH = 500;

/**
 * Like kafka-avro-console-producer, with plain JSON: unions by value, defaults filled,
 * timestamps as epoch millis or ISO-8601. A line that does not validate is reported with
 * its number and the field at fault; valid lines are still produced; exit code 1 then.
 */
export async function produceCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      topic: { type: 'string' },
      'key-field': { type: 'string' },
      'event-type': { type: 'string' },
    },
    strict: true,
  });
  if (!values.topic) throw new UsageError('produce needs --topic');
  const cat = catalogue(values);
  const spec = cat.topic(values.topic);
  const { kafka, registry } = connect(values);
  const names = values['event-type'] ? [values['event-type']] : spec.values;
  const candidates: Candidate[] = names.map((fullName) => {
    const subject = spec.subjects.find((s) => s.fullName === fullName);
    const entry = cat.schemas.get(fullName);
    if (!subject || !entry) throw new UsageError(`${fullName} is not carried by ${spec.name}`);
    return {
      fullName,
      type: parseForJson(entry.json),
      serializer: new AvroSerializer(registry, subject.subject, JSON.stringify(entry.json)),
      version: null,
    };
  });
  const keyField = values['key-field'] ?? spec.key.field;
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: false });
  await producer.connect();
  let produced = 0;
  let failed = 0;
  let pending: Message[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await producer.send({ topic: spec.name, acks: -1, messages: pending });
    produced += pending.length;
    pending = [];
  };
  try {
    let lineNo = 0;
    for await (const line of createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
      lineNo++;
      if (line.trim() === '') continue;
      try {
        pending.push(await toMessage(line, candidates, keyField));
      } catch (err) {
        failed++;
        process.stderr.write(`line ${lineNo}: ${(err as Error).message}\n`);
      }
      if (pending.length >= BATCH) await flush();
    }
    await flush();
  } finally {
    await producer.disconnect();
  }
  process.stderr.write(
    `produced ${produced} record(s) to ${spec.name}${failed ? `; ${failed} line(s) rejected` : ''}\n`,
  );
  if (failed > 0) process.exitCode = 1;

  async function toMessage(line: string, cands: Candidate[], key: string | undefined): Promise<Message> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      throw new Error(`invalid JSON: ${(err as Error).message}`);
    }
    let firstError: Error | null = null;
    for (const c of cands) {
      let value: Record<string, unknown>;
      try {
        value = fromPlainJson(c.type, json) as Record<string, unknown>;
      } catch (err) {
        firstError ??= err as Error;
        continue;
      }
      const bytes = await c.serializer.encode(value);
      if (c.version === null) {
        c.version = (await registry.lookup(c.serializer.subject, c.serializer.schema))?.version ?? null;
      }
      const envelope = newEnvelope({
        eventType: c.fullName,
        producer: 'sluice-console-producer',
        schemaSubject: c.serializer.subject,
        schemaVersion: c.version,
      });
      const k = key === undefined ? null : value[key];
      return {
        key: typeof k === 'string' ? k : null,
        value: bytes,
        headers: toHeaders(envelope),
        timestamp: typeof value.occurredAt === 'number' ? String(value.occurredAt) : undefined,
      };
    }
    const prefix = cands.length > 1 ? `matches none of ${cands.map((c) => c.fullName).join(', ')}; ` : '';
    throw new Error(`${prefix}${firstError?.message ?? 'invalid value'}`);
  }
}
