-- Read model "training_runs" (projections/trainingRuns.ts): the five events of
-- training.run.lifecycle, a table per event kind keyed by run id (each event fills its own
-- row, so no event overwrites another's columns), and training_runs, a view folding them into
-- one row per run with its status. Plain tables: a few runs a day.
INSERT INTO sluice_read_models (projection, relation, kind) VALUES
  ('training_runs', 'training_run_requests', 'table'),
  ('training_runs', 'training_run_starts', 'table'),
  ('training_runs', 'training_run_epochs', 'table'),
  ('training_runs', 'training_run_outcomes', 'table'),
  ('training_runs', 'training_runs', 'view');

CREATE FUNCTION sluice_rm_training_runs(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  req text := 'training_run_requests_v' || version;
  sta text := 'training_run_starts_v' || version;
  epo text := 'training_run_epochs_v' || version;
  outc text := 'training_run_outcomes_v' || version;
BEGIN
  IF to_regclass(req) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      run_id           uuid PRIMARY KEY,
      model_name       text NOT NULL,
      trigger          text NOT NULL,
      requested_by     text,
      reason           text,
      base_version     integer,
      labels_until     timestamptz,
      holdout_fraction double precision NOT NULL,
      seed             bigint NOT NULL,
      hyperparameters  jsonb NOT NULL,
      requested_at     timestamptz NOT NULL
    );
    CREATE INDEX %5$I ON %1$I (model_name, requested_at DESC);
    -- A restarted run (its worker was lost) keeps the latest start.
    CREATE TABLE %2$I (
      run_id            uuid PRIMARY KEY,
      model_name        text NOT NULL,
      worker            text NOT NULL,
      training_examples bigint NOT NULL,
      holdout_examples  bigint NOT NULL,
      epochs            integer NOT NULL,
      backend           text,
      started_at        timestamptz NOT NULL
    );
    CREATE TABLE %3$I (
      run_id      uuid NOT NULL,
      epoch       integer NOT NULL,
      epochs      integer NOT NULL,
      metrics     jsonb NOT NULL,
      occurred_at timestamptz NOT NULL,
      PRIMARY KEY (run_id, epoch)
    );
    CREATE TABLE %4$I (
      run_id              uuid PRIMARY KEY,
      model_name          text NOT NULL,
      outcome             text NOT NULL CHECK (outcome IN ('COMPLETED', 'FAILED')),
      artifact_uri        text,
      artifact_sha256     text,
      artifact_size_bytes bigint,
      class_labels        jsonb,
      metrics             jsonb,
      epochs              integer,
      duration_ms         bigint,
      error_class         text,
      error_code          text,
      error_message       text,
      failed_epoch        integer,
      retriable           boolean,
      finished_at         timestamptz NOT NULL
    );
    -- One row per run, whichever of its events arrived: a run seen only from a later event
    -- (its request outside the topic's retention) still shows, with what is known.
    CREATE VIEW %6$I AS
    SELECT run_id,
           coalesce(r.model_name, s.model_name, o.model_name) AS model_name,
           CASE WHEN o.outcome IS NOT NULL THEN o.outcome
                WHEN s.run_id IS NOT NULL THEN 'RUNNING'
                ELSE 'REQUESTED' END AS status,
           r.trigger, r.requested_by, r.reason, r.base_version, r.hyperparameters,
           r.requested_at, s.started_at, o.finished_at,
           s.worker, s.backend, s.training_examples, s.holdout_examples,
           coalesce(o.epochs, s.epochs) AS epochs,
           e.epoch AS last_epoch, e.metrics AS last_epoch_metrics,
           o.metrics, o.artifact_uri, o.duration_ms,
           o.error_class, o.error_code, o.error_message, o.retriable
      FROM %1$I r
      FULL JOIN %2$I s USING (run_id)
      FULL JOIN %4$I o USING (run_id)
      LEFT JOIN LATERAL (
        SELECT x.epoch, x.metrics FROM %3$I x
         WHERE x.run_id = coalesce(r.run_id, s.run_id, o.run_id)
         ORDER BY x.epoch DESC LIMIT 1
      ) e ON true;
  $ddl$, req, sta, epo, outc, req || '_model_idx', 'training_runs_v' || version);
END $$;

SELECT sluice_rm_training_runs(1);
SELECT sluice_rm_swap('training_runs', 1);
