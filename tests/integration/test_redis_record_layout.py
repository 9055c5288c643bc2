"""The fields of a semantic record's hash on Redis: what an insert writes (each field costs the server time per
insert), and that namespaces written by earlier versions, whose records carry more, keep reading and growing."""

from __future__ import annotations

import dataclasses
import uuid

import redis

from lix_integrations.backends.redis.keys import h, sem_base
from lix_integrations.kernel.ops import CountEntries, ExactGet, ScanEntries, Upsert

from .conftest import with_prefix
from .test_redis_adaptive_index import (
    DIM,
    FROM,
    NS,
    all_found,
    backend_for,
    record,
    unit,
    wait_switched,
)


def _attributes(raw: redis.Redis, name: str) -> list[str]:
    """The field names an index is made on, in its schema's order."""
    out = []
    for attribute in raw.ft(name).info()["attributes"]:
        fields = {_text(k): _text(v) for k, v in zip(attribute[::2], attribute[1::2], strict=False)}
        out.append(fields["identifier"])
    return out


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_a_record_stores_no_scope_tag_and_no_empty_expiry(redis_stack_url: str, raw: redis.Redis) -> None:
    prefix = "t" + uuid.uuid4().hex[:16]
    base = sem_base(prefix, NS)
    backend = backend_for(with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM), prefix=prefix))
    try:
        forever = int(backend.execute(Upsert(NS, record("a", unit(1)))))
        expiring = dataclasses.replace(record("b", unit(2)), expires_at=3700.0)
        timed = int(backend.execute(Upsert(NS, expiring)))
        fields = raw.hgetall(base + f"r:{forever}")
        assert b"sh" not in fields and b"xa" not in fields
        assert raw.hget(base + f"r:{timed}", "xa") == b"3700.0"
        assert raw.pttl(base + f"r:{timed}") > 0 and raw.pttl(base + f"r:{forever}") == -1
        got = backend.execute(ExactGet(NS, "a"))
        assert got is not None and got.id == forever and got.expires_at is None
        got = backend.execute(ExactGet(NS, "b"))
        assert got is not None and got.expires_at == 3700.0
        assert _attributes(raw, base + "idxf") == ["ph", "vec"]
        wait_switched(backend, raw)
        assert _attributes(raw, base + "idx") == ["ph", "vh"]
    finally:
        backend.close()


def test_a_namespace_written_with_scope_tags_and_empty_expiries_keeps_reading_and_growing(
    redis_stack_url: str, raw: redis.Redis
) -> None:
    """What the previous version left: records with ``sh`` and an empty ``xa``, a FLAT index with an ``sh`` TAG.
    Exact hits, searches, listing, replacing an exact key and the switch to HNSW all go on as before."""
    prefix = "t" + uuid.uuid4().hex[:16]
    base = sem_base(prefix, NS)
    url = with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM), prefix=prefix)
    before = backend_for(url)
    try:
        ids = {i: int(before.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(6)}
    finally:
        before.close()
    raw.execute_command("FT.DROPINDEX", base + "idxf")
    raw.execute_command(
        "FT.CREATE", base + "idxf", "ON", "HASH", "PREFIX", 1, base + "r:", "SKIPINITIALSCAN", "SCHEMA", "ph", "TAG",
        "sh", "TAG", "vec", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    # Written after the index, as that version wrote them: the server indexes a hash on each write. (Left to the
    # background scan of FT.CREATE, the records were not all found within 10 s once in a full CI run, on a
    # server holding every earlier test's keys.)
    for entry in ids.values():
        raw.hset(base + f"r:{entry}", mapping={"sh": h("global"), "xa": ""})
    backend = backend_for(url)
    try:
        assert all_found(backend, ids)
        old = backend.execute(ExactGet(NS, "e1"))
        assert old is not None and old.id == ids[1] and old.expires_at is None
        ids[0] = int(backend.execute(Upsert(NS, record("e0", unit(0)))))  # replaces the old record of "e0"
        assert backend.execute(CountEntries(NS)) == 6
        for i in range(6, FROM + 2):
            ids[i] = int(backend.execute(Upsert(NS, record(f"e{i}", unit(i)))))
        wait_switched(backend, raw)
        assert all_found(backend, ids)
        listed = backend.execute(ScanEntries(NS, after_id=0, limit=1000))
        assert {r.id for r in listed} >= set(ids.values())
        assert all(r.expires_at is None for r in listed)
        assert raw.hget(base + f"r:{ids[0]}", "sh") is None
    finally:
        backend.close()
