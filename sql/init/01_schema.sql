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

-- Attempt fencing (issue 11): every claim of a mission's job writes a new lease (Redis server time in
-- hex, then a random part, so later claims sort higher). Completion, failure and requeue writes carry
-- their lease and apply only if no later claim exists, so a reaped copy that finishes late stands down.
ALTER TABLE missions ADD COLUMN IF NOT EXISTS lease text;
-- The QUEUE_NAME of the last worker that claimed the mission (NULL until claimed): the reconciler of a
-- queue re-enqueues only its own missions when several queues share one database.
ALTER TABLE missions ADD COLUMN IF NOT EXISTS queue text;

-- Allowed status moves: queued -> processing -> completed | failed, processing -> queued (requeue of
-- the same attempt), queued -> completed | failed (updates that overtook a parked `processing`) and
-- failed -> queued (an operator requeues a dead letter). Anything else, above all leaving `completed`
-- or a stale `processing` over `failed`, is skipped: the row keeps its state and the write counts 0 rows.
CREATE OR REPLACE FUNCTION missions_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status
       OR (OLD.status = 'queued' AND NEW.status IN ('processing', 'completed', 'failed'))
       OR (OLD.status = 'processing' AND NEW.status IN ('queued', 'completed', 'failed'))
       OR (OLD.status = 'failed' AND NEW.status = 'queued') THEN
        RETURN NEW;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS missions_status_guard ON missions;
CREATE TRIGGER missions_status_guard BEFORE UPDATE ON missions
    FOR EACH ROW EXECUTE FUNCTION missions_status_guard();
