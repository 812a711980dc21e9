-- Read model "audit_log" (projections/auditLog.ts): a row per AuditEventRecorded, appended.
-- A plain table: people and services acting, a low rate; kept as long as the topic (forever).
INSERT INTO sluice_read_models (projection, relation, kind) VALUES ('audit_log', 'audit_log', 'table');

CREATE FUNCTION sluice_rm_audit_log(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'audit_log_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      actor          text NOT NULL,
      actor_kind     text NOT NULL,
      action         text NOT NULL,
      resource       text NOT NULL,
      outcome        text NOT NULL,
      reason         text,
      request_id     text,
      source_address text,
      details        jsonb NOT NULL,
      occurred_at    timestamptz NOT NULL
    );
    CREATE INDEX %2$I ON %1$I (actor, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (resource, occurred_at DESC);
    CREATE INDEX %4$I ON %1$I (occurred_at DESC);
  $ddl$, t, t || '_actor_idx', t || '_resource_idx', t || '_time_idx');
END $$;

SELECT sluice_rm_audit_log(1);
SELECT sluice_rm_swap('audit_log', 1);
