import { parseArgs } from 'node:util';
import pg from 'pg';
import { UsageError } from '../cli/usage.js';
import { config } from '../config.js';
import { commonOptions, connect } from '../console/options.js';
import { loadPipeline } from '../pipeline.js';
import { progress } from '../replay/progress.js';
import { liveVersion, type ServedProjection } from './blueGreen.js';
import { deadLetterSerializer } from './deadLetters.js';
import { describeRebuild, executeRebuild, planRebuild } from './rebuild.js';
import { projectionStatus } from './status.js';
import { ProjectionSupervisor } from './supervisor.js';

export const projectionsUsage = `  projections list      the pipeline's projections: live version, topics
  projections status [NAME...]   SQL checkpoint, lag per partition, errors, last error
  projections run [NAME...]      serve projections (live versions; follows rebuild swaps)
  projections rebuild NAME       build the next version from the earliest offsets beside the live
                                 one, then swap the stable views to it (blue/green)
    --drop-old              then drop the old version once no instance runs it
    --dry-run | --execute   print the plan (default) or do it
    --database-url URL  --bootstrap-server H:P  --schema-registry URL  --pipeline MODULE`;

function pick(all: ServedProjection[], names: string[]): ServedProjection[] {
  if (names.length === 0) return all;
  const unknown = names.filter((n) => !all.some((p) => p.name === n));
  if (unknown.length > 0) {
    throw new UsageError(
      `unknown projection(s) ${unknown.join(', ')}; known: ${all.map((p) => p.name).join(', ')}`,
    );
  }
  return all.filter((p) => names.includes(p.name));
}

export async function projectionsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...commonOptions,
      'database-url': { type: 'string' },
      pipeline: { type: 'string' },
      'drop-old': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      execute: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const [sub, ...names] = positionals;
  if (!sub || !['list', 'status', 'run', 'rebuild'].includes(sub)) {
    throw new UsageError('projections takes list, status, run or rebuild');
  }
  const databaseUrl = values['database-url'] ?? config().DATABASE_URL;
  if (!databaseUrl) throw new UsageError('projections needs --database-url or DATABASE_URL');
  const { kafka, registry } = connect(values);
  const all =
    (await loadPipeline(values.pipeline ?? config().SLUICE_PIPELINE)).projections?.({ registry }) ?? [];
  const chosen = pick(all, names);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  try {
    if (sub === 'list') {
      for (const p of chosen) {
        const topics = [...new Set(p.define(1).sources.map((s) => s.topic))].join(', ');
        process.stdout.write(`${p.name}\tv${await liveVersion(p, pool)}\t${topics}\n`);
      }
    } else if (sub === 'status') {
      for (const p of chosen) {
        const version = await liveVersion(p, pool);
        const s = await projectionStatus(pool, p.name, { kafka, version });
        if (!s) {
          process.stdout.write(`${p.name} v${version}: never ran\n`);
          continue;
        }
        const others = s.versions.filter((v) => v !== version);
        process.stdout.write(
          `${p.name} v${version}: lag ${s.lag ?? '?'}, ${s.errorCount} error(s)${others.length ? `; other versions with checkpoints: ${others.join(', ')}` : ''}\n`,
        );
        for (const part of s.partitions) {
          process.stdout.write(
            `  ${part.topic}[${part.partition}] checkpoint ${part.nextOffset} end ${part.endOffset ?? '?'} lag ${part.lag ?? '?'} (updated ${part.updatedAt.toISOString()})\n`,
          );
        }
        if (s.lastError) {
          const e = s.lastError;
          process.stdout.write(
            `  last error: ${e.topic}[${e.partition}]@${e.offset} ${e.errorClass}${e.errorCode ? ` ${e.errorCode}` : ''}: ${e.message} (${e.recordedAt.toISOString()})\n`,
          );
        }
      }
    } else if (sub === 'run') {
      const supervisor = await ProjectionSupervisor.start({
        projections: chosen,
        kafka,
        pool,
        deadLetterSerializer: deadLetterSerializer(registry),
      });
      process.stdout.write(`serving ${JSON.stringify(supervisor.versions)}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await supervisor.close();
    } else {
      if (names.length !== 1) throw new UsageError('projections rebuild takes one projection name');
      if (values['dry-run'] && values.execute)
        throw new UsageError('--dry-run and --execute exclude each other');
      const p = chosen[0]!;
      const plan = await planRebuild(p, { pool, kafka }, { dropOld: values['drop-old'] });
      process.stdout.write(`${describeRebuild(plan)}\n`);
      if (!values.execute) {
        process.stdout.write('dry run: nothing built (run with --execute)\n');
        return;
      }
      const bar = progress(`rebuild ${p.name} v${plan.to}`, plan.offsets);
      let seconds: number;
      try {
        ({ seconds } = await executeRebuild(p, plan, {
          pool,
          kafka,
          deadLetterSerializer: deadLetterSerializer(registry),
          onProgress: (n) => bar.add(n),
        }));
      } finally {
        bar.stop();
      }
      process.stdout.write(
        `${p.name} now serves version ${plan.to} (built in ${seconds.toFixed(1)} s)${plan.dropOld ? `; version ${plan.from} dropped` : ''}\n`,
      );
    }
  } finally {
    await pool.end();
  }
}
