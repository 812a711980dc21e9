-- Read model "sensor_readings" (projections/sensorReadings.ts): a row per reading, and
-- sensor_readings_1m, per device, metric and minute: count, mean, min, max and sum of the
-- values (sums re-aggregate into hours and days: sum(sum_value) / sum(readings)). Readings a
-- device marked BAD stay in sensor_readings but are left out of the rollup.
-- The raw table is the busiest: 1-day chunks, compressed after 7 days segmented by device and
-- metric, dropped after 90 days. The rollup keeps 2 years; its refresh window (30 days) stays
-- inside the raw retention, so a refresh never sees dropped chunks and erases their buckets.
INSERT INTO sluice_read_models (projection, relation, kind, source) VALUES
  ('sensor_readings', 'sensor_readings', 'table', NULL),
  ('sensor_readings', 'sensor_readings_1m', 'rollup', 'sensor_readings');
INSERT INTO sluice_read_model_settings
  (relation, chunk_interval, compress_after, drop_after, refresh_start, refresh_end, refresh_every) VALUES
  ('sensor_readings', INTERVAL '1 day', INTERVAL '7 days', INTERVAL '90 days', NULL, NULL, NULL),
  ('sensor_readings_1m', NULL, NULL, INTERVAL '730 days', INTERVAL '30 days', INTERVAL '2 minutes',
   INTERVAL '5 minutes');

CREATE FUNCTION sluice_rm_sensor_readings(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'sensor_readings_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      device_id   text NOT NULL,
      metric      text NOT NULL,
      value       double precision NOT NULL,
      unit        text,
      quality     text NOT NULL,
      source      text NOT NULL,
      sequence    bigint,
      received_at timestamptz,
      tags        jsonb NOT NULL,
      occurred_at timestamptz NOT NULL,
      -- One value per device, metric and millisecond: a redelivered reading is one row.
      PRIMARY KEY (device_id, metric, occurred_at)
    );
  $ddl$, t);
  PERFORM sluice_rm_hypertable(t, 'occurred_at', 'device_id, metric');
  PERFORM sluice_rm_rollup('sensor_readings_1m_v' || version, t, 'occurred_at', INTERVAL '1 minute',
    'device_id, metric',
    'count(*) AS readings, avg(value) AS avg_value, min(value) AS min_value, max(value) AS max_value, '
    'sum(value) AS sum_value',
    $w$quality <> 'BAD'$w$);
END $$;

SELECT sluice_rm_sensor_readings(1);
SELECT sluice_rm_swap('sensor_readings', 1);
