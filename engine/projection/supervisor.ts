import type { Kafka } from 'kafkajs';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { AvroSerializer } from '../codec/index.js';
import { createLogger } from '../observability/logger.js';
import type { DeadLetterValue } from '../topology/index.js';
import { liveVersion, type ServedProjection } from './blueGreen.js';
import { ProjectionRunner, type ProjectionRunnerOptions } from './runner.js';

export interface SupervisorOptions {
  projections: ServedProjection[];
  kafka: Kafka;
  pool: Pool;
  deadLetterSerializer: AvroSerializer<DeadLetterValue>;
  /** How often the live versions are checked for a swap (default 5 s). */
  pollMs?: number;
  logger?: Logger;
  runner?: Partial<Omit<ProjectionRunnerOptions, 'definition' | 'kafka' | 'pool' | 'deadLetterSerializer'>>;
}

/**
 * Serves a pipeline's projections: runs each one's live version, and follows swaps made by
 * `sluice projections rebuild` in another process (the new version starts from its own
 * checkpoints, then the old runner stops, so the served tables never stop being updated).
 */
export class ProjectionSupervisor {
  private readonly running = new Map<string, { version: number; runner: ProjectionRunner }>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly opts: SupervisorOptions) {
    this.log = opts.logger ?? createLogger('projection');
  }

  static async start(opts: SupervisorOptions): Promise<ProjectionSupervisor> {
    const s = new ProjectionSupervisor(opts);
    try {
      await s.check();
    } catch (err) {
      await s.close();
      throw err;
    }
    s.timer = setInterval(() => {
      s.checking = s.checking
        .then(() => s.check())
        .catch((err) => s.log.error({ err }, 'projection supervision failed'));
    }, opts.pollMs ?? 5_000);
    s.timer.unref();
    return s;
  }

  /** Projection name to the version running here. */
  get versions(): Record<string, number> {
    return Object.fromEntries([...this.running].map(([name, r]) => [name, r.version]));
  }

  private async check(): Promise<void> {
    for (const p of this.opts.projections) {
      if (this.closed) return;
      const version = await liveVersion(p, this.opts.pool);
      const current = this.running.get(p.name);
      if (current?.version === version) continue;
      const runner = await ProjectionRunner.start({
        ...this.opts.runner,
        definition: p.define(version),
        kafka: this.opts.kafka,
        pool: this.opts.pool,
        deadLetterSerializer: this.opts.deadLetterSerializer,
        logger: this.log,
      });
      this.running.set(p.name, { version, runner });
      if (current) {
        await current.runner.close();
        this.log.info(
          { projection: p.name, from: current.version, to: version },
          'now serving a new version',
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.checking.catch(() => {});
    for (const { runner } of this.running.values()) await runner.close();
    this.running.clear();
  }
}
