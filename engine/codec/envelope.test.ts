import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { causedBy, envelopeHeaders, fromHeaders, newEnvelope, toHeaders } from './envelope.js';

describe('envelope headers', () => {
  it('round-trips through Kafka headers, with UUIDv7 ids that sort by creation time', () => {
    const first = newEnvelope({
      eventType: 'sluice.test.A',
      producer: 'p',
      schemaSubject: 's-value',
      schemaVersion: 3,
    });
    const second = causedBy(first, { eventType: 'sluice.test.B', producer: 'q' });
    assert.match(first.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(second.eventId > first.eventId);
    assert.equal(first.correlationId, first.eventId);
    assert.equal(second.correlationId, first.eventId);
    assert.equal(second.causationId, first.eventId);
    const headers = Object.fromEntries(Object.entries(toHeaders(first)).map(([k, v]) => [k, Buffer.from(v)]));
    assert.deepEqual(fromHeaders(headers), first);
    assert.equal(toHeaders(second)[envelopeHeaders.causationId], first.eventId);
    assert.equal(envelopeHeaders.schemaVersion in toHeaders(second), false);
  });

  it('is null for records from producers that set no envelope', () => {
    assert.equal(fromHeaders(undefined), null);
    assert.equal(fromHeaders({ other: Buffer.from('x') }), null);
  });
});
