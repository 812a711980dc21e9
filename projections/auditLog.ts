import type { SchemaRegistryLike } from '../engine/codec/index.js';
import { type Emit, insertIgnore, type ProjectionDefinition, source } from '../engine/projection/index.js';
import type { AuditEventRecorded } from '../schemas/generated/events.js';
import { eventDecoder } from './decoders.js';
import { at, buildVersion, type ReadModelOptions } from './readModel.js';

type Target = 'audit_log';

/** Who did what to which resource, one row per AuditEventRecorded (migrations/0111_audit_log.sql). */
export function auditLogProjection(
  registry: SchemaRegistryLike,
  opts: ReadModelOptions = {},
): ProjectionDefinition<Target> {
  const version = opts.version ?? 1;
  return {
    name: 'audit_log',
    version,
    targets: {
      audit_log: {
        table: 'audit_log',
        columns: {
          actor: 'text',
          actor_kind: 'text',
          action: 'text',
          resource: 'text',
          outcome: 'text',
          reason: 'text',
          request_id: 'text',
          source_address: 'text',
          details: 'jsonb',
          occurred_at: 'timestamptz',
        },
        // Appended: audit events have no id of their own; the runner's checkpoint applies each once.
        key: [],
        conflict: insertIgnore(),
      },
    },
    sources: [
      source('audit.event.recorded', eventDecoder(registry, 'sluice.audit.AuditEventRecorded'), projectAudit),
    ],
    setup: buildVersion('audit_log', version, ['audit_log']),
  };
}

function projectAudit(e: AuditEventRecorded, emit: Emit<Target>): void {
  emit('audit_log', {
    actor: e.actor,
    actor_kind: e.actorKind,
    action: e.action,
    resource: e.resource,
    outcome: e.outcome,
    reason: e.reason,
    request_id: e.requestId,
    source_address: e.sourceAddress,
    details: e.details,
    occurred_at: at(e.occurredAt),
  });
}
