import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { UsageError } from '../../engine/cli/usage.js';
import { commonOptions, connect } from '../../engine/console/options.js';
import { EventTypeDecoder } from '../../projections/decoders.js';
import { TRAINING_TOPIC } from './trainer.js';
import { TrainingRequests } from './trainingRoutes.js';

export const trainUsage = `  train <model>         request a training run (a TrainingRequested on ${TRAINING_TOPIC}); the
                        trainer of \`sluice start\` runs it; prints the run id
    --architecture A        mobilenet-v2 (default) or small-cnn
    --epochs N  --batch-size N  --learning-rate X  --alpha X   hyperparameters
    --holdout F             fraction held out for evaluation (default 0.2)
    --seed N                split and training seed (default: random, printed)
    --reason TEXT           recorded with the request
    --wait                  follow the run: a line per epoch, then its metrics; exit 1 if it fails
    --timeout S             with --wait: give up after S seconds (default 3600)
    --bootstrap-server H:P  --schema-registry URL`;

const lifecycle = [
  'sluice.training.TrainingStarted',
  'sluice.training.TrainingProgressed',
  'sluice.training.TrainingCompleted',
  'sluice.training.TrainingFailed',
] as const;

/** `sluice train <model>`: the pipeline's command (pipeline/index.ts lists it). */
export async function trainCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      architecture: { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'learning-rate': { type: 'string' },
      alpha: { type: 'string' },
      holdout: { type: 'string' },
      seed: { type: 'string' },
      reason: { type: 'string' },
      wait: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '3600' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new UsageError('train takes one model name');
  const modelName = positionals[0]!;
  const hyperparameters: Record<string, string> = {};
  const hp: [string, string | undefined][] = [
    ['architecture', values.architecture],
    ['epochs', values.epochs],
    ['batchSize', values['batch-size']],
    ['learningRate', values['learning-rate']],
    ['alpha', values.alpha],
  ];
  for (const [k, v] of hp) if (v !== undefined) hyperparameters[k] = v;
  const number = (v: string | undefined, flag: string, ok: (n: number) => boolean) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!ok(n)) throw new UsageError(`${flag} got ${JSON.stringify(v)}`);
    return n;
  };
  const holdoutFraction = number(values.holdout, '--holdout', (n) => n > 0 && n < 1);
  const seed = number(values.seed, '--seed', (n) => Number.isSafeInteger(n) && n >= 0);
  const timeoutS = number(values.timeout, '--timeout', (n) => n > 0)!;
  const { kafka, registry } = connect(values);
  // Subscribe before requesting, so a fast trainer's answers are not missed.
  const consumer = values.wait ? kafka.consumer({ groupId: `sluice-train-${randomUUID()}` }) : null;
  const decoder = new EventTypeDecoder(registry, lifecycle);
  let finished: (code: number) => void = () => {};
  const outcome = new Promise<number>((resolve) => {
    finished = resolve;
  });
  let runId = '';
  if (consumer) {
    await consumer.connect();
    await consumer.subscribe({ topics: [TRAINING_TOPIC], fromBeginning: false });
    // The consumer starts at the end: it must have its partitions before the request goes out.
    const joined = new Promise<void>((resolve) => {
      const off = consumer.on(consumer.events.GROUP_JOIN, () => {
        off();
        resolve();
      });
    });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.key?.toString() !== runId || !message.value) return;
        const e = await decoder.decode(message.value).catch(() => null);
        if (!e) return;
        if (e.type === 'sluice.training.TrainingStarted') {
          const s = e.event;
          process.stdout.write(
            `started on ${s.worker} (${s.backend ?? 'auto'}): ${s.trainingExamples} training, ${s.holdoutExamples} holdout examples, ${s.epochs} epochs\n`,
          );
        } else if (e.type === 'sluice.training.TrainingProgressed') {
          const p = e.event;
          const m = Object.entries(p.metrics)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ');
          process.stdout.write(`epoch ${p.epoch}/${p.epochs}: ${m}\n`);
        } else if (e.type === 'sluice.training.TrainingCompleted') {
          const c = e.event;
          process.stdout.write(
            `completed in ${(c.durationMs / 1000).toFixed(1)} s: accuracy ${c.metrics.accuracy?.toFixed(4)}, macro F1 ${c.metrics.macro_f1?.toFixed(4)}; artifact ${c.artifactUri} (sha256 ${c.artifactSha256})\n`,
          );
          finished(0);
        } else if (e.type === 'sluice.training.TrainingFailed') {
          process.stderr.write(`failed: ${e.event.errorClass}: ${e.event.message}\n`);
          finished(1);
        }
      },
    });
    await joined;
  }
  const requests = await TrainingRequests.start(kafka, registry);
  try {
    const event = await requests.request(
      { modelName, hyperparameters, holdoutFraction, seed, reason: values.reason },
      process.env.USER ?? null,
    );
    runId = event.runId;
    process.stdout.write(`requested training run ${runId} of ${modelName} (seed ${event.seed})\n`);
  } finally {
    await requests.close();
  }
  if (!consumer) return;
  const timer = setTimeout(() => {
    process.stderr.write(`sluice: no result for run ${runId} after ${timeoutS} s\n`);
    finished(1);
  }, timeoutS * 1000);
  try {
    process.exitCode = await outcome;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}
