"""The `forcing_datasets` catalog: register, list and select datasets; `worker.py forcing add|list`."""

from __future__ import annotations

import re
from contextlib import closing
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from config import Settings
from driftline.forcing.common import QUANTITIES, as_utc, check_forcing_uri, covers_time, db_errors, iso, s3_error
from driftline.forcing.readers import DatasetInfo, inspect_forcing_file
from driftline.objects import ensure_buckets, make_s3_client

CATALOG_COLUMNS = (
    "name", "s3_key", "uri", "etag", "variables", "provides_currents", "provides_wind",
    "lon_min", "lon_max", "lat_min", "lat_max", "time_start", "time_end", "resolution_m", "size_bytes",
)  # fmt: skip


def _rows(cur) -> list[dict]:
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def register_dataset(conn, info: DatasetInfo, key: str, uri: str, etag: str | None, name: str) -> dict:
    """Insert or update (by S3 key) one catalog row; returns the row."""
    values = {**asdict(info), "name": name, "s3_key": key, "uri": uri, "etag": etag}
    return upsert_row(conn, {c: values[c] for c in CATALOG_COLUMNS})


def upsert_row(conn, values: dict) -> dict:
    """Insert or update (by s3_key) one catalog row from column -> value (dicts stored as jsonb)."""
    from psycopg2.extras import Json

    values = {k: Json(v) if isinstance(v, dict) else v for k, v in values.items()}
    cols = ", ".join(values)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in values if c != "s3_key")
    sql = (
        f"INSERT INTO forcing_datasets ({cols}) VALUES ({', '.join(f'%({c})s' for c in values)}) "
        f"ON CONFLICT (s3_key) DO UPDATE SET {updates}, created_at = now() RETURNING *"
    )
    with db_errors("update"), conn, conn.cursor() as cur:
        cur.execute(sql, values)
        return _rows(cur)[0]


def list_datasets(conn) -> list[dict]:
    """All catalog rows, by name then newest first."""
    with db_errors("listing"), conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM forcing_datasets ORDER BY name, created_at DESC, id DESC")
        return _rows(cur)


SELECT_SQL = """
SELECT * FROM forcing_datasets
WHERE {flag}
  AND lat_min <= %(lat)s AND %(lat)s <= lat_max
  AND ((lon_min <= %(lon)s AND %(lon)s <= lon_max) OR (lon_min <= %(lon)s + 360 AND %(lon)s + 360 <= lon_max))
  AND (time_start IS NULL OR time_start <= %(t)s) AND (time_end IS NULL OR %(t)s <= time_end)
ORDER BY resolution_m ASC NULLS LAST, time_start DESC NULLS LAST, created_at DESC, id DESC
"""


def select_datasets(conn, lat: float, lon: float, start_time: datetime, end_time: datetime) -> dict[str, list[dict]]:
    """Per quantity, the catalog rows whose box holds the position and whose time range holds start_time, best first.

    Best = finest resolution, then newest (time_start, then created_at). Each row gains `covers_run`:
    whether its time range also holds end_time.
    """
    params = {"lat": lat, "lon": lon, "t": as_utc(start_time)}
    out = {}
    with db_errors("query"), conn, conn.cursor() as cur:
        for quantity in QUANTITIES:
            cur.execute(SELECT_SQL.format(flag=f"provides_{quantity}"), params)
            out[quantity] = [
                {**r, "covers_run": covers_time(r["time_start"], r["time_end"], end_time)} for r in _rows(cur)
            ]
    return out


# ---------------------------------------------------------------- CLI helpers (`worker.py forcing add|list`)


def _upload_key(path: Path) -> str:
    key = re.sub(r"[^A-Za-z0-9._-]", "_", path.name).lstrip(".") or "forcing.nc"
    return key if key.endswith((".nc", ".nc4")) else key + ".nc"


def forcing_add(settings: Settings, path: Path | str, name: str | None = None, *, s3_client=None) -> dict:
    """Inspect a local file, upload it to the forcing bucket, register it in the catalog, print one line."""
    import psycopg2

    settings.require_services()
    path = Path(path)
    info = inspect_forcing_file(path)
    key = _upload_key(path)
    uri = check_forcing_uri(f"s3://{settings.forcing_bucket}/{key}", settings)
    client = s3_client or make_s3_client(settings)
    ensure_buckets(client, [settings.forcing_bucket])
    try:
        client.upload_file(str(path), settings.forcing_bucket, key, ExtraArgs={"ContentType": "application/x-netcdf"})
        etag = client.head_object(Bucket=settings.forcing_bucket, Key=key)["ETag"].strip('"')
    except Exception as e:
        raise s3_error(e, uri, "upload") from e
    with db_errors("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        row = register_dataset(conn, info, key, uri, etag, name or path.stem)
    print(f"Added forcing dataset {source_summary(row)}")
    return row


def forcing_list(settings: Settings) -> list[dict]:
    """All catalog rows (print them with format_catalog)."""
    import psycopg2

    settings.require_services()
    with db_errors("connection"), closing(psycopg2.connect(settings.database_url)) as conn:
        return list_datasets(conn)


def _quantities(row: dict) -> str:
    return "+".join(q for q in QUANTITIES if row.get(f"provides_{q}")) or "-"


def source_summary(row: dict) -> str:
    res = f"{row['resolution_m'] / 1000:.1f} km" if row.get("resolution_m") else "? km"
    return (
        f"{row['name']} ({row['uri']}): {_quantities(row)}, lat {row['lat_min']:.2f}..{row['lat_max']:.2f}, "
        f"lon {row['lon_min']:.2f}..{row['lon_max']:.2f}, {iso(row['time_start'])}..{iso(row['time_end'])}, {res}"
    )


def format_catalog(rows: list[dict]) -> str:
    """The catalog as a plain-text table."""
    header = ("NAME", "PROVIDES", "LAT", "LON", "TIME", "RES_KM", "MB", "URI")
    table = [header] + [
        (
            r["name"],
            _quantities(r),
            f"{r['lat_min']:.2f}..{r['lat_max']:.2f}",
            f"{r['lon_min']:.2f}..{r['lon_max']:.2f}",
            f"{iso(r['time_start'])}..{iso(r['time_end'])}",
            f"{r['resolution_m'] / 1000:.1f}" if r.get("resolution_m") else "?",
            f"{(r.get('size_bytes') or 0) / 1e6:.1f}",
            r["uri"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines) if rows else "\n".join(lines) + "\n(no forcing datasets registered)"
