"""Forcing: which currents and winds drive a mission, and where they come from.

Sources, best first: NetCDF model files named by the job (s3:// URIs in the forcing bucket)
or given locally, else files picked from the `forcing_datasets` catalog; outside their
domain, the job's on-scene observation or a zero fallback. Files are opened only with
OpenDrift's own readers and fetched through a process-safe local cache.

Modules: `plan` (resolving a mission's forcing), `readers` (opening and describing files), `drifters`
(on-scene drifter tracks as a current reader placed first),
`catalog` (the `forcing_datasets` table and `worker.py forcing add|list`), `cache` (download
cache), `common` (shared helpers); remote sources: `sources` (`forcing add-remote|sync|presets`),
`remote` (per-mission subsets stored in the forcing bucket), `fetch` (the fetch process that alone
reads remote servers), `netguard` (the host allow-list), `zarrstore` (Zarr over boto3).
Dependencies point one way: plan -> catalog/cache/readers/remote -> common.
"""

from driftline.forcing.cache import ForcingCache
from driftline.forcing.catalog import (
    CATALOG_COLUMNS,
    SELECT_SQL,
    forcing_add,
    forcing_list,
    format_catalog,
    list_datasets,
    register_dataset,
    select_datasets,
)
from driftline.forcing.common import CURRENT_VARS, QUANTITIES, WIND_VARS, check_forcing_uri
from driftline.forcing.plan import (
    DATASETS_PER_QUANTITY,
    NOUNS,
    ForcingContext,
    ForcingPlan,
    constant_plan,
    domain_fractions,
    resolve_forcing,
)
from driftline.forcing.readers import (
    NETCDF_MAGIC,
    DatasetInfo,
    check_usable,
    inspect_forcing_file,
    inspect_reader,
    open_reader,
    provided,
)
from driftline.forcing.remote import RemoteSubsets, seed_reach_m
from driftline.forcing.sources import forcing_add_remote, forcing_sync, load_presets

__all__ = [
    "CATALOG_COLUMNS",
    "CURRENT_VARS",
    "DATASETS_PER_QUANTITY",
    "NETCDF_MAGIC",
    "NOUNS",
    "QUANTITIES",
    "SELECT_SQL",
    "WIND_VARS",
    "DatasetInfo",
    "ForcingCache",
    "ForcingContext",
    "ForcingPlan",
    "check_forcing_uri",
    "check_usable",
    "constant_plan",
    "domain_fractions",
    "forcing_add",
    "forcing_add_remote",
    "forcing_sync",
    "load_presets",
    "RemoteSubsets",
    "seed_reach_m",
    "forcing_list",
    "format_catalog",
    "inspect_forcing_file",
    "inspect_reader",
    "list_datasets",
    "open_reader",
    "provided",
    "register_dataset",
    "resolve_forcing",
    "select_datasets",
]
