-- Forcing catalog: NetCDF model files in the forcing bucket, with what they provide and where/when.
-- Idempotent; runs after 01_schema.sql and does not depend on it.

CREATE TABLE IF NOT EXISTS forcing_datasets (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL,
    s3_key            text NOT NULL UNIQUE,
    uri               text NOT NULL,
    etag              text,
    variables         text[] NOT NULL DEFAULT '{}',  -- OpenDrift standard names the file provides
    provides_currents boolean NOT NULL DEFAULT false,
    provides_wind     boolean NOT NULL DEFAULT false,
    lon_min           double precision NOT NULL,
    lon_max           double precision NOT NULL,
    lat_min           double precision NOT NULL,
    lat_max           double precision NOT NULL,
    time_start        timestamptz,  -- NULL: the file has no time axis (valid at all times)
    time_end          timestamptz,
    resolution_m      double precision,
    size_bytes        bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (lat_min <= lat_max AND lon_min <= lon_max),
    CHECK (time_start IS NULL OR time_end IS NULL OR time_start <= time_end)
);

-- Lookup by position and time (select_datasets filters on these, per quantity).
CREATE INDEX IF NOT EXISTS forcing_datasets_lookup_idx
    ON forcing_datasets (lat_min, lat_max, lon_min, lon_max, time_start, time_end);

-- Remote sources (issue 15): OPeNDAP/THREDDS datasets and Zarr stores read where they are published.
-- For them s3_key holds the source URL (the row's identity) and uri the same URL; kind says how to read it.
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'file';  -- file | opendap | zarr
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS variable_map jsonb;       -- OpenDrift name -> source variable
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS storage_options jsonb NOT NULL DEFAULT '{}'::jsonb;  -- no secrets
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS required boolean NOT NULL DEFAULT false;  -- down = wait, not fall back
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS time_step_s double precision;
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS licence text;
ALTER TABLE forcing_datasets ADD COLUMN IF NOT EXISTS synced_at timestamptz;    -- last `worker.py forcing sync`
DO $$ BEGIN
    ALTER TABLE forcing_datasets ADD CONSTRAINT forcing_datasets_kind_check CHECK (kind IN ('file', 'opendap', 'zarr'));
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
