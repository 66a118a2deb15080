-- Driftline mission schema. Idempotent: safe to run any number of times.

CREATE TABLE IF NOT EXISTS missions (
    id              uuid PRIMARY KEY,
    status          text NOT NULL DEFAULT 'queued',
    params          jsonb,
    progress        real,
    attempts        integer NOT NULL DEFAULT 0,
    worker_id       text,
    error_message   text,
    result_location text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    completed_at    timestamptz
);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'missions_status_check') THEN
        ALTER TABLE missions ADD CONSTRAINT missions_status_check
            CHECK (status IN ('queued', 'processing', 'completed', 'failed'));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'missions_progress_check') THEN
        ALTER TABLE missions ADD CONSTRAINT missions_progress_check
            CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1));
    END IF;
END $$;

CREATE INDEX IF NOT EXISTS missions_status_idx ON missions (status);

CREATE TABLE IF NOT EXISTS mission_results (
    id           bigserial PRIMARY KEY,
    mission_id   uuid NOT NULL REFERENCES missions (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    uri          text NOT NULL,
    content_type text,
    size_bytes   bigint,
    sha256       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mission_results_mission_kind_key UNIQUE (mission_id, kind)
);
