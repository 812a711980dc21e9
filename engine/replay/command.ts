import { parseArgs } from 'node:util';
import { UsageError } from '../cli/usage.js';
import { config } from '../config.js';
import { commonOptions, connect } from '../console/options.js';
import { progress } from './progress.js';
import { parsePosition } from './ranges.js';
import { describeReplay, executeReplay, planReplay } from './replay.js';
import { describeReset, executeReset, planReset } from './reset.js';

export const replayUsage = `  replay                re-publish a slice of a topic into another, keeping partition, key, headers, timestamp
    --topic T --into T2     source and target topics (required)
    --from OFFSET|DATETIME  start: an offset on every partition, an ISO-8601 time, or earliest (default)
    --to OFFSET|DATETIME    exclusive end (default: the end as of now)
    --dry-run | --execute   print the plan (default) or copy the records
    --bootstrap-server H:P`;

export const resetUsage = `  reset <application-id>  reset a topology application to reprocess its input
    --to-earliest | --to-datetime D   where the input offsets go (one is required)
    --input-topics T1,T2    inputs (default: topics the group has committed offsets for)
    --output-topics T1,T2   also empty these output topics
    --state-dir DIR         the application's state directory root (default: <SLUICE_DATA_DIR>/state)
    --dry-run | --execute   print the plan (default) or carry it out; refuses while instances run
    --bootstrap-server H:P`;

function mode(values: { 'dry-run'?: boolean; execute?: boolean }): 'dry-run' | 'execute' {
  if (values['dry-run'] && values.execute) throw new UsageError('--dry-run and --execute exclude each other');
  return values.execute ? 'execute' : 'dry-run';
}

const list = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export async function replayCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      topic: { type: 'string' },
      into: { type: 'string' },
      from: { type: 'string', default: 'earliest' },
      to: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      execute: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (!values.topic || !values.into) throw new UsageError('replay needs --topic and --into');
  const how = mode(values);
  const from = parsePosition(values.from, '--from');
  const to = values.to === undefined ? undefined : parsePosition(values.to, '--to');
  const { kafka } = connect(values);
  const plan = await planReplay(kafka, { topic: values.topic, into: values.into, from, to });
  process.stdout.write(`${describeReplay(plan)}\n`);
  if (how === 'dry-run') {
    process.stdout.write('dry run: nothing copied (run with --execute)\n');
    return;
  }
  const bar = progress('replay', plan.offsets);
  let written: number;
  try {
    written = await executeReplay(kafka, plan, (n) => bar.add(n));
  } finally {
    bar.stop();
  }
  process.stdout.write(`replayed ${written} record(s) into ${plan.target}\n`);
}

export async function resetCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      'to-earliest': { type: 'boolean', default: false },
      'to-datetime': { type: 'string' },
      'input-topics': { type: 'string' },
      'output-topics': { type: 'string' },
      'state-dir': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      execute: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [applicationId, ...extra] = positionals;
  if (!applicationId || extra.length > 0) throw new UsageError('reset takes one application id');
  if (values['to-earliest'] === (values['to-datetime'] !== undefined)) {
    throw new UsageError('reset needs exactly one of --to-earliest and --to-datetime');
  }
  const how = mode(values);
  let to: 'earliest' | { timestamp: number } = 'earliest';
  if (values['to-datetime'] !== undefined) {
    const p = parsePosition(values['to-datetime'], '--to-datetime');
    if (typeof p !== 'object' || !('timestamp' in p))
      throw new UsageError('--to-datetime takes an ISO-8601 time');
    to = p;
  }
  const { kafka } = connect(values);
  const plan = await planReset(kafka, {
    applicationId,
    to,
    inputTopics: list(values['input-topics']),
    outputTopics: list(values['output-topics']),
    stateDir: values['state-dir'] ?? `${config().SLUICE_DATA_DIR}/state`,
  });
  process.stdout.write(`${describeReset(plan)}\n`);
  if (how === 'dry-run') {
    process.stdout.write('dry run: nothing changed (run with --execute)\n');
    return;
  }
  await executeReset(kafka, plan);
  process.stdout.write('reset done\n');
}
