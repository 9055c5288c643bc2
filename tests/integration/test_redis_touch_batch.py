"""Uses recorded by lookups reach Redis as one script call per namespace (lua/sem_touch.lua): the call writes the
use order into 'lru' and into each partition's set, and the times into 'acc', for every use it carries, so that
least-recently-used eviction (``max_entries``, plain mode's ``partition_limit``) follows the uses."""

from __future__ import annotations

import numpy as np
import redis

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.keys import h, sem_base
from lix_integrations.kernel.ops import CountEntries, ExactGet, ExactOrSearch, SemanticRecord, Touch, Upsert

from .conftest import with_prefix

NS = "ns"


def unit(seed: int) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=8).astype(np.float32)
    return vec / np.linalg.norm(vec)


def record(key: str, partition: str, vec: np.ndarray | None) -> SemanticRecord:
    return SemanticRecord(key, partition, "global", "llm", key, vec, "{}", 100.0, None, 100.0)


def test_a_batch_of_uses_orders_lru_and_partition_sets_and_keeps_records_without_vectors_out(
    redis_plain_url: str,
) -> None:
    backend = open_backend(with_prefix(redis_plain_url, index="none", partition_limit="3"))
    assert isinstance(backend, RedisBackend)
    raw = redis.Redis.from_url(redis_plain_url, decode_responses=True)
    base = sem_base(backend.options.prefix, NS)
    try:
        a, b = (backend.execute(Upsert(NS, record(k, "p", unit(i)))) for i, k in enumerate("ab"))
        c = backend.execute(Upsert(NS, record("c", "q", unit(2))))
        d = backend.execute(Upsert(NS, record("d", "q", unit(3))))
        e = backend.execute(Upsert(NS, record("e", "p", None)))  # no vector: not in the partition's set
        raw.delete(f"{base}r:{c}")  # gone (as Redis expires a record) before its use is sent
        # Out of order and interleaved across partitions: the script writes them oldest first.
        for entry_id, when in ((a, 400.0), (d, 200.0), (c, 250.0), (e, 300.0), (b, 350.0)):
            backend.execute(Touch(NS, (entry_id,), when))
        backend.execute(CountEntries(NS))  # anything but a lookup sends the waiting uses, in one call
        lru = [int(i) for i in raw.zrange(base + "lru", 0, -1)]
        assert lru[-4:] == [d, e, b, a]  # used last, in the order of their uses
        assert [int(i) for i in raw.zrange(base + "pt:" + h("p"), 0, -1)] == [b, a]
        assert [int(i) for i in raw.zrange(base + "pt:" + h("q"), 0, -1)] == [c, d]  # c untouched: older
        acc = raw.hgetall(base + "acc")
        assert {int(k): float(v) for k, v in acc.items()} == {a: 400.0, b: 350.0, d: 200.0, e: 300.0}
        # Plain mode's partition bound evicts the partition's least recently used vector: b, used before a.
        f = backend.execute(Upsert(NS, record("f", "p", unit(5))))
        g = backend.execute(Upsert(NS, record("g", "p", unit(6))))
        assert [int(i) for i in raw.zrange(base + "pt:" + h("p"), 0, -1)] == [a, f, g]
        assert not raw.exists(f"{base}r:{b}") and raw.exists(f"{base}r:{a}")
    finally:
        backend.close()
        raw.close()


def test_a_lookup_sees_the_uses_this_process_has_not_sent_yet(redis_stack_url: str) -> None:
    """Uses wait behind lookups (they ride with a later command), but the records a one-round-trip lookup returns
    carry them already, exact hit or search result: idle expiry reads the last use."""
    url = with_prefix(redis_stack_url, index="flat")
    backend, theirs = open_backend(url), open_backend(url)
    try:
        used = backend.execute(Upsert(NS, record("e", "p", unit(1))))
        other = backend.execute(Upsert(NS, record("f", "p", unit(2))))
        backend.execute(Touch(NS, (used,), 500.0))
        exact, none = backend.execute(ExactOrSearch(NS, "e", "p", unit(1), 2))
        assert exact is not None and exact.id == used and exact.accessed_at == 500.0 and none == []
        _, found = backend.execute(ExactOrSearch(NS, "nope", "p", unit(1), 2))
        assert {rec.id: rec.accessed_at for rec, _ in found} == {used: 500.0, other: 100.0}
        seen = theirs.execute(ExactGet(NS, "e"))  # another process: the use has not been sent yet
        assert seen is not None and seen.accessed_at == 100.0
    finally:
        backend.close()
        theirs.close()
