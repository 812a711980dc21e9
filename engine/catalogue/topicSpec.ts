import { z } from 'zod';

/**
 * How a topic's value schemas are named in a Confluent-compatible schema registry:
 * - `TopicNameStrategy`: `<topic>-value`, one value schema per topic;
 * - `RecordNameStrategy`: `<record full name>`, shared by every topic carrying that record;
 * - `TopicRecordNameStrategy`: `<topic>-<record full name>`, several value schemas per topic.
 */
export const subjectStrategies = [
  'TopicNameStrategy',
  'RecordNameStrategy',
  'TopicRecordNameStrategy',
] as const;
export type SubjectStrategy = (typeof subjectStrategies)[number];

/** Kafka `cleanup.policy` values. */
export const cleanupPolicies = ['delete', 'compact', 'compact,delete'] as const;
export type CleanupPolicy = (typeof cleanupPolicies)[number];

/** The registry subject under which `fullName`'s schema is registered for `topic`. */
export function subjectName(strategy: SubjectStrategy, topic: string, fullName: string): string {
  switch (strategy) {
    case 'TopicNameStrategy':
      return `${topic}-value`;
    case 'RecordNameStrategy':
      return fullName;
    case 'TopicRecordNameStrategy':
      return `${topic}-${fullName}`;
  }
}

/** Record keys are plain UTF-8 strings; `field`, when given, is the value field the key is taken from. */
export interface TopicKey {
  type: 'string';
  doc: string;
  field?: string;
}

export interface TopicSubject {
  fullName: string;
  subject: string;
}

/** One topic of the catalogue. */
export interface TopicSpec {
  name: string;
  doc: string;
  key: TopicKey;
  /** Full names of the Avro records the topic carries, in catalogue order. */
  values: string[];
  subjectStrategy: SubjectStrategy;
  /** The registry subject of each value schema, in `values` order. */
  subjects: TopicSubject[];
  partitions: number;
  cleanupPolicy: CleanupPolicy;
  /** Kafka `retention.ms`; -1 keeps records forever. */
  retentionMs: number;
}

const kafkaTopicName = /^[A-Za-z0-9._-]{1,249}$/;
const avroFullName = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

const topicEntrySchema = z.strictObject({
  name: z.string().regex(kafkaTopicName, 'must be a Kafka topic name (1-249 of [A-Za-z0-9._-])'),
  doc: z.string().min(1),
  key: z.strictObject({
    type: z.literal('string'),
    doc: z.string().min(1),
    field: z.string().min(1).optional(),
  }),
  values: z.array(z.string().regex(avroFullName, 'must be an Avro full name')).min(1),
  subjectStrategy: z.enum(subjectStrategies),
  subjects: z.record(z.string(), z.string().min(1)),
  partitions: z.int().min(1),
  cleanupPolicy: z.enum(cleanupPolicies),
  retentionMs: z.int().min(-1),
});

/** The shape of `catalogue.json`. */
export const catalogueFileSchema = z.strictObject({
  doc: z.string().optional(),
  topics: z.array(topicEntrySchema),
});

export type CatalogueFile = z.infer<typeof catalogueFileSchema>;
export type TopicEntry = z.infer<typeof topicEntrySchema>;
