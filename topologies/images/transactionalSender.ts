import { randomUUID } from 'node:crypto';
import type { Kafka, Producer, TopicMessages } from 'kafkajs';

/**
 * Sends groups of records atomically: each `send` is one Kafka transaction over every topic and
 * partition it touches, so read_committed consumers see all of a group or none of it. A kafkajs
 * producer runs one transaction at a time, so sends queue behind each other.
 */
export class TransactionalSender {
  private readonly producer: Producer;
  private queue: Promise<unknown> = Promise.resolve();
  private connected = false;

  /** `transactionalId`: unique per live sender (a second one with the same id fences the first). */
  constructor(kafka: Kafka, transactionalId = `sluice-ingest-${randomUUID()}`) {
    this.producer = kafka.producer({
      transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
    });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    this.connected = true;
  }

  send(topicMessages: TopicMessages[]): Promise<void> {
    const run = this.queue.then(() => this.sendNow(topicMessages));
    this.queue = run.catch(() => {});
    return run;
  }

  async disconnect(): Promise<void> {
    await this.queue;
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }

  private async sendNow(topicMessages: TopicMessages[]): Promise<void> {
    const txn = await this.producer.transaction();
    try {
      await txn.sendBatch({ topicMessages, acks: -1 });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => {});
      throw err;
    }
  }
}
