import type { IHeaders } from 'kafkajs';
import { v7 as uuidv7 } from 'uuid';

/**
 * Event metadata carried in Kafka headers, so values hold domain fields only and any
 * client can route on headers without decoding Avro.
 */
export interface Envelope {
  eventId: string;
  eventType: string;
  correlationId: string;
  causationId: string | null;
  producer: string;
  schemaSubject: string | null;
  schemaVersion: number | null;
}

export const envelopeHeaders = {
  eventId: 'sluice.event-id',
  eventType: 'sluice.event-type',
  correlationId: 'sluice.correlation-id',
  causationId: 'sluice.causation-id',
  producer: 'sluice.producer',
  schemaSubject: 'sluice.schema-subject',
  schemaVersion: 'sluice.schema-version',
} as const;

/** A new envelope: a UUIDv7 event id; the correlation id defaults to the event id (a new story). */
export function newEnvelope(
  e: Pick<Envelope, 'eventType' | 'producer'> & Partial<Omit<Envelope, 'eventType' | 'producer'>>,
): Envelope {
  const eventId = e.eventId ?? uuidv7();
  return {
    eventId,
    eventType: e.eventType,
    correlationId: e.correlationId ?? eventId,
    causationId: e.causationId ?? null,
    producer: e.producer,
    schemaSubject: e.schemaSubject ?? null,
    schemaVersion: e.schemaVersion ?? null,
  };
}

/** The envelope of an event caused by `cause`: same correlation, causation = cause's id. */
export function causedBy(cause: Envelope, e: Pick<Envelope, 'eventType' | 'producer'>): Envelope {
  return newEnvelope({ ...e, correlationId: cause.correlationId, causationId: cause.eventId });
}

export function toHeaders(env: Envelope): Record<string, string> {
  const h: Record<string, string> = {
    [envelopeHeaders.eventId]: env.eventId,
    [envelopeHeaders.eventType]: env.eventType,
    [envelopeHeaders.correlationId]: env.correlationId,
    [envelopeHeaders.producer]: env.producer,
  };
  if (env.causationId !== null) h[envelopeHeaders.causationId] = env.causationId;
  if (env.schemaSubject !== null) h[envelopeHeaders.schemaSubject] = env.schemaSubject;
  if (env.schemaVersion !== null) h[envelopeHeaders.schemaVersion] = String(env.schemaVersion);
  return h;
}

/** Reads an envelope back; null when the record carries none (a foreign producer). */
export function fromHeaders(headers: IHeaders | undefined): Envelope | null {
  const get = (k: string): string | null => {
    const v = headers?.[k];
    if (v === undefined || v === null) return null;
    const one = Array.isArray(v) ? v[0] : v;
    return one === undefined ? null : one.toString();
  };
  const eventId = get(envelopeHeaders.eventId);
  const eventType = get(envelopeHeaders.eventType);
  if (eventId === null || eventType === null) return null;
  const version = get(envelopeHeaders.schemaVersion);
  return {
    eventId,
    eventType,
    correlationId: get(envelopeHeaders.correlationId) ?? eventId,
    causationId: get(envelopeHeaders.causationId),
    producer: get(envelopeHeaders.producer) ?? '',
    schemaSubject: get(envelopeHeaders.schemaSubject),
    schemaVersion: version === null ? null : Number(version),
  };
}
