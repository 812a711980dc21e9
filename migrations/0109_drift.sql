-- Read model "drift" (projections/drift.ts): drift_measurements, a row per model version,
-- column, test and window (a re-measured window replaces its row), and drift_alerts, a row per
-- DriftDetected window. Measurements are a hypertable partitioned on window_end (the event
-- time, and part of the key), 7-day chunks: columns x windows, a moderate rate.
INSERT INTO sluice_read_models (projection, relation, kind) VALUES
  ('drift', 'drift_measurements', 'table'),
  ('drift', 'drift_alerts', 'table');
INSERT INTO sluice_read_model_settings (relation, chunk_interval, compress_after)
VALUES ('drift_measurements', INTERVAL '7 days', INTERVAL '30 days');

CREATE FUNCTION sluice_rm_drift(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m text := 'drift_measurements_v' || version;
  a text := 'drift_alerts_v' || version;
BEGIN
  IF to_regclass(m) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      model_name     text NOT NULL,
      model_version  integer NOT NULL,
      column_name    text NOT NULL,
      column_kind    text NOT NULL,
      test           text NOT NULL,
      statistic      double precision NOT NULL,
      p_value        double precision,
      threshold      double precision NOT NULL,
      threshold_on   text NOT NULL,
      drifted        boolean NOT NULL,
      window_start   timestamptz NOT NULL,
      window_end     timestamptz NOT NULL,
      sample_size    bigint NOT NULL,
      reference_size bigint NOT NULL,
      occurred_at    timestamptz NOT NULL,
      PRIMARY KEY (model_name, model_version, column_name, test, window_start, window_end)
    );
    CREATE INDEX %3$I ON %1$I (model_name, column_name, window_end DESC);
    CREATE TABLE %2$I (
      model_name       text NOT NULL,
      model_version    integer NOT NULL,
      window_start     timestamptz NOT NULL,
      window_end       timestamptz NOT NULL,
      drifted_columns  jsonb NOT NULL,
      measured_columns integer NOT NULL,
      severity         text NOT NULL,
      occurred_at      timestamptz NOT NULL,
      PRIMARY KEY (model_name, model_version, window_start, window_end)
    );
    CREATE INDEX %4$I ON %2$I (window_end DESC);
  $ddl$, m, a, m || '_column_idx', a || '_time_idx');
  PERFORM sluice_rm_hypertable(m, 'window_end', 'model_name');
END $$;

SELECT sluice_rm_drift(1);
SELECT sluice_rm_swap('drift', 1);
