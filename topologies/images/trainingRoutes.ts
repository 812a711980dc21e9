import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Kafka, Producer } from 'kafkajs';
import { AvroSerializer, type SchemaRegistryLike } from '../../engine/codec/index.js';
import { catalogue } from '../../projections/decoders.js';
import type { TrainingRequested } from '../../schemas/generated/events.js';
import { TRAINING_TOPIC } from './trainer.js';

interface TrainingRunBody {
  modelName: string;
  reason?: string;
  holdoutFraction?: number;
  seed?: number;
  labelsUntil?: number;
  hyperparameters?: Record<string, string>;
}

/** Requests one training run as an event; the trainer answers on the same topic. */
export class TrainingRequests {
  private readonly serializer: AvroSerializer<TrainingRequested>;

  constructor(
    private readonly producer: Producer,
    registry: SchemaRegistryLike,
  ) {
    const name = 'sluice.training.TrainingRequested';
    const subject = catalogue()
      .topic(TRAINING_TOPIC)
      .subjects.find((s) => s.fullName === name)!.subject;
    this.serializer = new AvroSerializer(registry, subject, catalogue().schemas.get(name)!.json);
  }

  static async start(kafka: Kafka, registry: SchemaRegistryLike): Promise<TrainingRequests> {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    return new TrainingRequests(producer, registry);
  }

  async request(body: TrainingRunBody, requestedBy: string | null): Promise<TrainingRequested> {
    const event: TrainingRequested = {
      runId: randomUUID(),
      modelName: body.modelName,
      trigger: 'MANUAL',
      requestedBy,
      reason: body.reason ?? null,
      baseVersion: null,
      labelsUntil: body.labelsUntil ?? null,
      holdoutFraction: body.holdoutFraction ?? 0.2,
      seed: body.seed ?? Math.floor(Math.random() * 2 ** 31),
      hyperparameters: body.hyperparameters ?? {},
      occurredAt: Date.now(),
    };
    const value = await this.serializer.encode(event);
    await this.producer.send({ topic: TRAINING_TOPIC, acks: -1, messages: [{ key: event.runId, value }] });
    return event;
  }

  close(): Promise<void> {
    return this.producer.disconnect();
  }
}

/**
 * `POST /v1/training-runs` `{modelName, reason?, holdoutFraction?, seed?, labelsUntil?,
 * hyperparameters?}` → 202 `{runId, seed}`: a `TrainingRequested` on the lifecycle topic. The
 * run's progress and result are the trainer's events and the training_runs read model.
 */
export function registerTrainingRoutes(app: FastifyInstance, requests: TrainingRequests): void {
  app.post<{ Body: TrainingRunBody }>(
    '/v1/training-runs',
    {
      schema: {
        body: {
          type: 'object',
          required: ['modelName'],
          // Unknown fields are dropped (Fastify's default removeAdditional), not refused.
          additionalProperties: false,
          properties: {
            modelName: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$' },
            reason: { type: 'string', maxLength: 500 },
            holdoutFraction: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
            seed: { type: 'integer', minimum: 0, maximum: 2 ** 53 - 1 },
            labelsUntil: { type: 'integer', minimum: 0 },
            hyperparameters: {
              type: 'object',
              maxProperties: 32,
              additionalProperties: { type: 'string', maxLength: 200 },
            },
          },
        },
      },
    },
    async (request, reply) => {
      const event = await requests.request(request.body, null);
      return reply.status(202).send({ runId: event.runId, seed: event.seed });
    },
  );
}
