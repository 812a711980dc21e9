import { parseArgs } from 'node:util';
import { UsageError } from '../cli/usage.js';
import { catalogue, commonOptions, connect } from './options.js';

export const topicsUsage = `  topics list|create    list topics (of the broker, or of the catalogue with --catalogue);
                        create --catalogue creates every catalogue topic and registers its schemas
    --catalogue             use the topic catalogue
    --bootstrap-server H:P  --schema-registry URL  --catalogue-dir DIR`;

export async function topicsCommand(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { ...commonOptions, catalogue: { type: 'boolean', default: false } },
    strict: true,
  });
  if (action === 'list' && values.catalogue) {
    for (const t of catalogue(values).topics) {
      const retention = t.retentionMs === -1 ? 'forever' : `${t.retentionMs}ms`;
      const subjects = t.subjects.map((s) => s.subject).join(',');
      process.stdout.write(
        `${t.name}\tpartitions=${t.partitions}\tcleanup=${t.cleanupPolicy}\tretention=${retention}\tkey=${t.key.field ?? 'string'}\tvalues=${t.values.join(',')}\tsubjects=${subjects}\n`,
      );
    }
    return;
  }
  if (action === 'list') {
    const admin = connect(values).kafka.admin();
    await admin.connect();
    try {
      for (const name of (await admin.listTopics()).sort()) process.stdout.write(`${name}\n`);
    } finally {
      await admin.disconnect();
    }
    return;
  }
  if (action === 'create' && values.catalogue) {
    await createCatalogueTopics(values);
    return;
  }
  throw new UsageError('topics expects `list [--catalogue]` or `create --catalogue`');
}

/** Creates every catalogue topic that is missing and registers every subject; safe to repeat. */
export async function createCatalogueTopics(values: Parameters<typeof connect>[0]): Promise<void> {
  const cat = catalogue(values);
  const { kafka, registry } = connect(values);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = cat.topics.filter((t) => !existing.has(t.name));
    // Every topic's dead-letter topic, where the topology and projection runners put what they
    // cannot process: created up front so that read models can subscribe to them.
    const dlqs = cat.topics
      .filter((t) => !t.name.startsWith('platform.deadletter') && !existing.has(`${t.name}.dlq`))
      .map((t) => ({ topic: `${t.name}.dlq`, numPartitions: t.partitions }));
    if (missing.length > 0 || dlqs.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: [
          ...missing.map((t) => ({
            topic: t.name,
            numPartitions: t.partitions,
            configEntries: [
              { name: 'cleanup.policy', value: t.cleanupPolicy },
              { name: 'retention.ms', value: String(t.retentionMs) },
            ],
          })),
          ...dlqs,
        ],
      });
    }
    for (const t of cat.topics) {
      process.stdout.write(`${t.name}\t${existing.has(t.name) ? 'exists' : 'created'}\n`);
    }
    for (const t of cat.topics) {
      for (const s of t.subjects) {
        const id = await registry.register(s.subject, JSON.stringify(cat.schemas.get(s.fullName)!.json));
        process.stdout.write(`${s.subject}\tschema id ${id}\n`);
      }
    }
  } finally {
    await admin.disconnect();
  }
}
