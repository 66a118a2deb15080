"""Hypothesis strategies for hostile job bodies (shared by the parse_job and the supervisor property tests)."""

from __future__ import annotations

import json
import random
import re
import uuid

from hypothesis import strategies as st

MID = "5f1d7c1e-3b7a-4c69-9d1e-2f4b8f0e6a11"
SEA_BOX = {"type": "Polygon", "coordinates": [[[3.9, 59.9], [4.1, 59.9], [4.1, 60.1], [3.9, 60.1], [3.9, 59.9]]]}
POINT = {"latitude": 60.0, "longitude": 4.0, "start_time": "2024-01-01T00:00:00Z", "duration_hours": 2}
VALID_PARAMS = [
    POINT,
    {**POINT, "num_particles": 50, "object_type": "LIFE-RAFT-NB-1", "capsizing": {"wind_threshold_ms": 20}},
    {**POINT, "wind": {"speed_ms": 8, "from_deg": 250}, "current": {"speed_ms": 0.2, "to_deg": 90}},
    {**POINT, "end_latitude": 60.1, "end_longitude": 4.1, "end_time": "2024-01-01T01:00:00Z"},
    {**POINT, "area": SEA_BOX, "release_end_time": "2024-01-01T01:00:00Z"},
    {**POINT, "object_type": [{"type": 1, "weight": 2}, {"type": "LIFE-RAFT-NB-1", "weight": 1}]},
    {**POINT, "forcing": ["s3://driftline-forcing/a/b.nc"], "direction": "backward"},
    {**POINT, "ensemble": [{"wind": {"speed_ms": 5, "from_deg": 0}}, {"forcing": ["s3://driftline-forcing/x.nc"]}]},
    {**POINT, "model": "shipdrift", "ship": {"length_m": 120, "beam_m": 20, "height_m": 25, "draft_m": 6}},
    {**POINT, "model": "oceandrift", "wind_drift_factor": 0.03, "horizontal_diffusivity_m2s": 10},
    {
        **POINT,
        "drifters": [
            {
                "id": "SLDMB-1",
                "positions": [
                    {"time": "2024-01-01T00:00:00Z", "lat": 60.0, "lon": 4.0},
                    {"time": "2024-01-01T01:00:00Z", "lat": 60.01, "lon": 4.01},
                ],
            }
        ],
    },
]
PARAM_KEYS = sorted({k for p in VALID_PARAMS for k in p} | {"random_seed", "time_step_minutes", "grid_resolution_m"})

# Numbers that broke float(), datetime or comparisons somewhere: huge integers, the float limits, non-finite values.
extreme_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=1, max_value=4000).map(lambda n: 10**n + 7),
    st.integers(min_value=1, max_value=4000).map(lambda n: -(10**n)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**63, 2**64 + 1, -(2**63) - 1, 2**32, -1]),
)
odd_text = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(codec=None, categories=["Cc", "Cs", "Cf", "Zl", "Zp", "Co", "Cn"]), max_size=20),
    st.sampled_from(
        [
            "\x00",
            "PIW-1\x00",
            "s3://driftline-forcing/\x00.nc",
            "s3://[driftline-forcing/x.nc",
            "s3://driftline-forcing]/x.nc",
            "s3://driftline-forcing/../x.nc",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01T00:00:00+05:00",
            "2024-01-01T00:00:00+23:59",
            "\ud800",
            "\udfff\ud800",
            "𝟙𝟡𝟝𝟘-01-01",
            "٢٠٢٤-٠١-٠١",
            "2024-01-01T00:00:00Z\n",
            MID + "\n",
            "x" * 5000,
        ]
    ),
)
json_scalars = st.one_of(st.none(), st.booleans(), extreme_numbers, odd_text)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(odd_text, inner, max_size=5), max_leaves=8
)
mission_ids = st.one_of(
    st.just(MID),
    st.uuids().map(str),
    st.sampled_from([MID.upper(), MID + "\n", "{" + MID + "}", MID.replace("-", ""), "urn:uuid:" + MID, " " + MID]),
    json_scalars,
)


def dumps(value) -> str:
    """JSON text as a hostile producer could send it (NaN/Infinity and lone surrogates included)."""
    return json.dumps(value, allow_nan=True)


def nest(depth: int) -> str:
    return "[" * depth + "]" * depth


@st.composite
def mutated_jobs(draw) -> bytes:
    """A valid job with one to three params replaced, deleted or added (values from the hostile pool)."""
    params = dict(draw(st.sampled_from(VALID_PARAMS)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(PARAM_KEYS) | odd_text)
        action = draw(st.sampled_from(["replace", "delete", "nest"]))
        if action == "delete":
            params.pop(key, None)
        elif action == "replace":
            params[key] = draw(json_values)
        else:  # put a structure under an existing nested value, e.g. wind.speed_ms or area.coordinates
            inner = params.get(key)
            if isinstance(inner, dict) and inner:
                sub = draw(st.sampled_from(sorted(inner)))
                params[key] = {**inner, sub: draw(json_values)}
            else:
                params[key] = draw(json_values)
    body = {"mission_id": draw(mission_ids), "params": params}
    if draw(st.booleans()):
        body["mission_id"] = MID
    text = dumps(body)
    if draw(st.integers(0, 9)) == 0:  # a deep structure in raw text, beyond what json.dumps would build
        depth = draw(st.sampled_from([50, 900, 1200, 5000, 30000]))
        text = text.replace('"params": {', f'"deep": {nest(depth)}, "params": {{', 1)
    return text.encode("utf-8", "surrogatepass")


def mutate_bytes(rnd: random.Random, params: dict) -> bytes:
    """A valid body with bytes flipped, cut or inserted (invalid UTF-8, broken JSON, stray NULs)."""
    raw = bytearray(dumps({"mission_id": MID, "params": params}).encode())
    for _ in range(rnd.randint(1, 4)):
        i = rnd.randrange(len(raw))
        op = rnd.choice(["flip", "cut", "insert", "token"])
        if op == "flip":
            raw[i] = rnd.randrange(256)
        elif op == "cut":
            del raw[i : i + rnd.randint(1, 20)]
        elif op == "insert":
            raw[i:i] = rnd.randbytes(rnd.randint(1, 8))
        else:
            raw[i:i] = rnd.choice([b"\\u0000", b"\\ud800", b"1e999", b"-", b"[", b'"', b"NaN", b"9" * 400])
        raw = raw or bytearray(b"{")
    return bytes(raw)


# Hypothesis draws the seed and the template; eight bodies per example keep thousands of them within seconds.
byte_mutations = st.tuples(st.randoms(use_true_random=False), st.sampled_from(VALID_PARAMS)).map(
    lambda t: [mutate_bytes(t[0], t[1]) for _ in range(8)]
)
random_bodies = st.one_of(
    json_values.map(lambda v: dumps(v).encode("utf-8", "surrogatepass")),
    st.dictionaries(st.sampled_from(["mission_id", "params", "delivery", "x"]), json_values).map(
        lambda v: dumps(v).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=200),
)
hostile_bodies = st.one_of(mutated_jobs(), byte_mutations.map(lambda bodies: bodies[0]), random_bodies)

# Bodies that once crashed the supervisor (each one is also an explicit example below).
KNOWN_CRASHERS = {
    "deep nesting (RecursionError)": f'{{"mission_id": "{MID}", "params": {nest(5000)}}}'.encode(),
    "400-digit latitude (OverflowError)": dumps({"mission_id": MID, "params": {**POINT, "latitude": 10**400}}).encode(),
    "start time out of range in UTC": dumps(
        {"mission_id": MID, "params": {**POINT, "start_time": "9999-12-31T23:59:59-05:00"}}
    ).encode(),
    "forcing URI urlsplit rejects": dumps(
        {"mission_id": MID, "params": {**POINT, "forcing": ["s3://[driftline-forcing/x.nc"]}}
    ).encode(),
    "NUL in a forcing URI (PostgreSQL DataError)": dumps(
        {"mission_id": MID, "params": {**POINT, "forcing": ["s3://driftline-forcing/a\x00.nc"]}}
    ).encode(),
    "NUL in an unknown key (PostgreSQL DataError)": dumps(
        {"mission_id": MID, "params": {**POINT, "k\x00": 1}}
    ).encode(),
    "lone surrogate in an unknown key": dumps({"mission_id": MID, "params": {**POINT, "k\ud800": 1}}).encode(),
    "mission id with a trailing newline": dumps({"mission_id": MID + "\n", "params": POINT}).encode(),
    "400-digit object weight": dumps(
        {"mission_id": MID, "params": {**POINT, "object_type": [{"type": 1, "weight": 10**400}]}}
    ).encode(),
}


_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _new_uuid_like(match: re.Match) -> bytes:
    new = str(uuid.uuid4())
    return (new.upper() if match.group().isupper() else new).encode()


def fresh(body: bytes) -> bytes:
    """The same body with new mission ids (each UUID, in its own case, and MID without hyphens), so service
    tests do not share rows: Hypothesis draws the same UUIDs again and again, and a row that reached its
    attempt limit would end the next body with that id as `crashed`."""
    body = body.replace(MID.replace("-", "").encode(), uuid.uuid4().hex.encode())
    return _UUID.sub(_new_uuid_like, body)


@st.composite
def one_field_replaced(draw) -> tuple[bytes, tuple[str, ...]]:
    """A valid job with one field (a param, a nested param such as wind.speed_ms, or the mission id) replaced by a
    hostile value, and the names an InvalidJob for it must mention (the field, or its parent param)."""
    params = dict(draw(st.sampled_from(VALID_PARAMS)))
    body = {"mission_id": MID, "params": params}
    nested = sorted(k for k, v in params.items() if isinstance(v, dict) and v)
    where = draw(st.sampled_from(["param", "nested", "mission_id"] if nested else ["param", "mission_id"]))
    if where == "mission_id":
        body["mission_id"], names = draw(mission_ids), ("mission_id",)
    elif where == "nested":
        key = draw(st.sampled_from(nested))
        sub = draw(st.sampled_from(sorted(params[key])))
        params[key], names = {**params[key], sub: draw(json_values)}, (key, sub)
    else:
        key = draw(st.sampled_from(PARAM_KEYS))
        params[key], names = draw(json_values), (key,)
    return dumps(body).encode("utf-8", "surrogatepass"), names
