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
