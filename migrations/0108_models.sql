-- Read model "models" (projections/models.ts): the model registry, a row per
-- ModelVersionRegistered in model_versions, and model_aliases: per model, the champion after
-- its latest ModelPromoted or ModelRolledBack. models.champion.changed is compacted, so only
-- the latest change per model is certain to be replayed: the read model keeps exactly that
-- (the history of promotions is in audit_log).
INSERT INTO sluice_read_models (projection, relation, kind) VALUES
  ('models', 'model_versions', 'table'),
  ('models', 'model_aliases', 'table');

CREATE FUNCTION sluice_rm_models(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  ver text := 'model_versions_v' || version;
  ali text := 'model_aliases_v' || version;
BEGIN
  IF to_regclass(ver) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      model_name          text NOT NULL,
      version             integer NOT NULL,
      run_id              uuid,
      artifact_uri        text NOT NULL,
      artifact_sha256     text NOT NULL,
      artifact_size_bytes bigint NOT NULL,
      artifact_format     text NOT NULL,
      class_labels        jsonb NOT NULL,
      feature_set         text NOT NULL,
      input_shape         jsonb NOT NULL,
      metrics             jsonb NOT NULL,
      drift_reference_uri text,
      registered_by       text,
      registered_at       timestamptz NOT NULL,
      PRIMARY KEY (model_name, version)
    );
    CREATE TABLE %2$I (
      model_name       text NOT NULL,
      alias            text NOT NULL,
      version          integer NOT NULL,
      previous_version integer,
      change           text NOT NULL CHECK (change IN ('PROMOTED', 'ROLLED_BACK')),
      reason           text NOT NULL,
      changed_by       text,
      metrics          jsonb NOT NULL,
      changed_at       timestamptz NOT NULL,
      PRIMARY KEY (model_name, alias)
    );
  $ddl$, ver, ali);
END $$;

SELECT sluice_rm_models(1);
SELECT sluice_rm_swap('models', 1);
