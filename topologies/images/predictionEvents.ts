import type { Kafka, Producer } from 'kafkajs';
import type { Catalogue } from '../../engine/catalogue/index.js';
import { AvroSerializer, newEnvelope, type SchemaRegistryLike, toHeaders } from '../../engine/codec/index.js';
import { catalogue as shippedCatalogue } from '../../projections/decoders.js';
import type { PredictionMade } from '../../schemas/generated/events.js';

export const PREDICTIONS_TOPIC = 'inference.prediction.made';

export interface PredictionPublisherOptions {
  kafka: Kafka;
  registry: SchemaRegistryLike;
  /** The envelope's producer name. Default sluice-predict-api. */
  producer?: string;
  catalogue?: Catalogue;
}

/**
 * Records the predictions `POST /v1/predict` answers as `PredictionMade` events (keyed by the
 * subject, with the envelope headers), through an idempotent producer, acks from all replicas:
 * the API answers once its event is stored, so feedback can always refer to the prediction id.
 */
export class PredictionPublisher {
  private constructor(
    private readonly kafkaProducer: Producer,
    private readonly serializer: AvroSerializer<PredictionMade>,
    private readonly schemaVersion: number | null,
    private readonly producerName: string,
  ) {}

  static async start(opts: PredictionPublisherOptions): Promise<PredictionPublisher> {
    const cat = opts.catalogue ?? shippedCatalogue();
    const subject = cat
      .topic(PREDICTIONS_TOPIC)
      .subjects.find((s) => s.fullName === 'sluice.inference.PredictionMade');
    if (!subject) throw new Error(`the catalogue has no PredictionMade on ${PREDICTIONS_TOPIC}`);
    const serializer = new AvroSerializer<PredictionMade>(
      opts.registry,
      subject.subject,
      cat.schemas.get(subject.fullName)!.json,
    );
    await serializer.schemaId();
    const found = await opts.registry.lookup(serializer.subject, serializer.schema);
    const producer = opts.kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    return new PredictionPublisher(
      producer,
      serializer,
      found?.version ?? null,
      opts.producer ?? 'sluice-predict-api',
    );
  }

  async publish(event: PredictionMade): Promise<void> {
    const envelope = newEnvelope({
      eventType: 'sluice.inference.PredictionMade',
      producer: this.producerName,
      schemaSubject: this.serializer.subject,
      schemaVersion: this.schemaVersion,
    });
    await this.kafkaProducer.send({
      topic: PREDICTIONS_TOPIC,
      acks: -1,
      messages: [
        {
          key: event.subjectId,
          value: this.serializer.encodeSync(event),
          headers: toHeaders(envelope),
          timestamp: String(event.occurredAt),
        },
      ],
    });
  }

  async close(): Promise<void> {
    await this.kafkaProducer.disconnect();
  }
}
