-- Read model "dead_letters" (projections/deadLetters.ts): a row per DeadLetterRecorded, with
-- the original key, value and headers. A hypertable on occurred_at (when the record was
-- dead-lettered) with 1-day chunks, dropped after 30 days as the topic is: a storm of bad input
-- is many rows, and whole chunks go cheaply.
INSERT INTO sluice_read_models (projection, relation, kind) VALUES ('dead_letters', 'dead_letters', 'table');
INSERT INTO sluice_read_model_settings (relation, chunk_interval, drop_after)
VALUES ('dead_letters', INTERVAL '1 day', INTERVAL '30 days');

CREATE FUNCTION sluice_rm_dead_letters(version integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := 'dead_letters_v' || version;
BEGIN
  IF to_regclass(t) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format($ddl$
    CREATE TABLE %1$I (
      source_topic     text NOT NULL,
      source_partition integer NOT NULL,
      source_offset    bigint NOT NULL,
      source_timestamp timestamptz,
      consumer_group   text,
      stage            text NOT NULL,
      error_class      text NOT NULL,
      error_code       text,
      message          text NOT NULL,
      stack            text,
      attempts         integer NOT NULL,
      original_key     bytea,
      original_value   bytea,
      original_headers jsonb NOT NULL,
      occurred_at      timestamptz NOT NULL
    );
    CREATE INDEX %2$I ON %1$I (source_topic, occurred_at DESC);
    CREATE INDEX %3$I ON %1$I (source_topic, source_partition, source_offset);
  $ddl$, t, t || '_topic_idx', t || '_source_idx');
  PERFORM sluice_rm_hypertable(t, 'occurred_at');
END $$;

SELECT sluice_rm_dead_letters(1);
SELECT sluice_rm_swap('dead_letters', 1);
