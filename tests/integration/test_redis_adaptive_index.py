"""Adaptive Query Engine index (``index=adaptive``, what ``auto`` becomes on Redis Stack): a namespace starts on a
FLAT index and switches to HNSW once it holds ``hnsw_from`` records, decided from server state only. Every record
stays findable before, during and after the switch, with several writers, and after an index is dropped."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import redis

from lix_integrations.backends import open_backend
from lix_integrations.backends.redis import semantic, semantic_index
from lix_integrations.backends.redis.backend import RedisBackend
from lix_integrations.backends.redis.keys import sem_base
from lix_integrations.errors import SettingsMismatchError
from lix_integrations.kernel.ops import (
    CountEntries,
    ExactOrSearch,
    Gather,
    SemanticRecord,
    Upsert,
    VectorSearch,
)

from .conftest import with_prefix

NS = "ns"
DIM = 8
FROM = 12


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    vec = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vec / np.linalg.norm(vec)


def record(key: str, vec: np.ndarray) -> SemanticRecord:
    return SemanticRecord(key, "p", "global", "llm", key, vec, "{}", 100.0, None, 100.0)


@pytest.fixture
def url(redis_stack_url: str) -> str:
    return with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM))


def backend_for(url: str) -> RedisBackend:
    backend = open_backend(url)
    assert isinstance(backend, RedisBackend)
    return backend


def indexes(raw: redis.Redis, backend: RedisBackend) -> dict[str, str]:
    """The namespace's indexes by suffix (``idx``, ``idxf``) -> vector algorithm, from FT._LIST and FT.INFO."""
    base = sem_base(backend.options.prefix, NS)
    out = {}
    for name in (n.decode() for n in raw.execute_command("FT._LIST")):
        if name.startswith(base):
            info = raw.ft(name).info()
            out[name[len(base) :]] = _algorithm(info)
    return out


def _algorithm(info: dict[str, object]) -> str:
    return _vector_field(info)["algorithm"]


def _vector_field(info: dict[str, object]) -> dict[str, str]:
    """The vector attribute of an ``FT.INFO`` reply, names and values as str."""
    for attribute in info["attributes"]:  # type: ignore[attr-defined]
        fields = dict(zip(attribute[::2], attribute[1::2], strict=False))
        text = {
            (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
            for k, v in fields.items()
        }
        if text.get("type") == "VECTOR":
            return text
    return {"algorithm": "?"}


def vector_field(raw: redis.Redis, backend: RedisBackend, name: str) -> tuple[str, str, str]:
    """(field, algorithm, data type) of the namespace's index ``name``."""
    field = _vector_field(raw.ft(sem_base(backend.options.prefix, NS) + name).info())
    return field["identifier"], field["algorithm"], field["data_type"]


def all_found(backend: RedisBackend, ids: dict[int, int]) -> bool:
    """Every record's own vector finds that record first (through both search ops)."""
    for seed, entry in ids.items():
        hits = backend.execute(VectorSearch(NS, "p", unit(seed), 1))
        _, candidates = backend.execute(ExactOrSearch(NS, "none", "p", unit(seed), 1))
        if not hits or hits[0][0].id != entry or candidates[0][0].id != entry:
            return False
    return True


def wait_switched(backend: RedisBackend, raw: redis.Redis, seed: int = 10_000) -> None:
    """Upsert (the switch is decided on upserts) until the namespace searches its HNSW index."""
    qe = sem_base(backend.options.prefix, NS) + "qe"
    deadline = time.monotonic() + 10
    while raw.get(qe) != b"hnsw":
        assert time.monotonic() < deadline, "the namespace never switched to HNSW"
        backend.execute(Upsert(NS, record(f"extra{seed}", unit(seed))))
        seed += 1
        time.sleep(0.05)


def test_a_small_namespace_is_flat_and_switches_to_hnsw_without_losing_an_entry(
    url: str, raw: redis.Redis
) -> None:
    backend = backend_for(url)
    try:
        ids = {i: int(backend.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM - 1)}
        assert backend.search_mode == "adaptive"
        assert indexes(raw, backend) == {"idxf": "FLAT"}
        assert all_found(backend, ids)
        for i in range(FROM - 1, FROM + 5):  # crossing the size: HNSW built beside FLAT, then switched to
            ids[i] = int(backend.execute(Upsert(NS, record(f"e{i}", unit(i)))))
            assert all_found(backend, ids)  # whichever index a search used, it was complete
        wait_switched(backend, raw)
        assert indexes(raw, backend) == {"idx": "HNSW"}
        assert all_found(backend, ids)
        assert backend.execute(CountEntries(NS)) >= len(ids)
    finally:
        backend.close()


def test_a_namespace_filled_by_one_batch_searches_its_hnsw_index_once_the_batch_returns(
    url: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache loaded in bulk (``update_many``) and then only read: the build is driven by upserts, so each upsert
    of a batch owes it a chunk, and the batch returns with the namespace switched. Before, a batch ran one chunk in
    all, and a namespace no one wrote to again searched its FLAT index for ever (3-4x slower at 10k entries)."""
    monkeypatch.setattr(semantic_index, "GROW_CHUNK", 2)
    backend = backend_for(url)
    try:
        batch = tuple(Upsert(NS, record(f"e{i}", unit(i))) for i in range(FROM * 4))
        ids = dict(enumerate(int(i) for i in backend.execute(Gather(batch))))
        assert raw.get(sem_base(backend.options.prefix, NS) + "qe") == b"hnsw"
        assert indexes(raw, backend) == {"idx": "HNSW"}
        assert all_found(backend, ids)
    finally:
        backend.close()


@pytest.mark.parametrize("chunk", [50, 3], ids=["one-chunk", "many-chunks"])
def test_two_writers_across_the_switch_keep_one_index_and_every_entry(
    url: str, raw: redis.Redis, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With small chunks the two writers take turns advancing the build's cursor on the server."""
    monkeypatch.setattr(semantic_index, "GROW_CHUNK", chunk)
    a, b = backend_for(url), backend_for(url)
    try:
        ids: dict[int, int] = {}
        for i in range(FROM * 3):
            writer = a if i % 2 else b
            ids[i] = int(writer.execute(Upsert(NS, record(f"e{i}", unit(i)))))
            assert all_found(a, ids)  # on FLAT until the HNSW index holds every record, then on HNSW
        wait_switched(a, raw)
        b.execute(Upsert(NS, record("late", unit(999))))  # b learns of the switch from its upsert's reply
        assert indexes(raw, a) == {"idx": "HNSW"}
        assert all_found(a, ids) and all_found(b, ids)
        assert a.execute(CountEntries(NS)) >= len(ids)
    finally:
        a.close()
        b.close()


def test_a_flat_index_made_again_in_a_race_with_the_switch_is_dropped(url: str, raw: redis.Redis) -> None:
    """A process that read no switch and made the FLAT index after another process dropped it (its first search
    or upsert raced the switch) drops it once its next upsert's reply says the namespace switched."""
    a = backend_for(url)
    try:
        ids = {i: int(a.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM)}
        wait_switched(a, raw)
        base = sem_base(a.options.prefix, NS)
        raw.execute_command(  # what the racing process's FT.CREATE left behind
            "FT.CREATE", base + "idxf", "ON", "HASH", "PREFIX", 1, base + "r:", "SCHEMA", "vec", "VECTOR", "FLAT",
            6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE",
        )  # fmt: skip
        late = backend_for(url)
        try:
            late._sem.qe._ready[NS] = DIM  # it made its index before the switch
            late._sem.qe._algo[NS] = "flat"
            late.execute(Upsert(NS, record("late", unit(500))))
            assert indexes(raw, a) == {"idx": "HNSW"}
            assert all_found(late, ids)
        finally:
            late.close()
    finally:
        a.close()


@pytest.mark.parametrize("switched", [False, True], ids=["flat", "hnsw"])
def test_a_dropped_index_is_made_again_of_the_kind_the_namespace_is_at(
    url: str, raw: redis.Redis, switched: bool
) -> None:
    backend = backend_for(url)
    try:
        ids = {i: int(backend.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM - 2)}
        if switched:
            wait_switched(backend, raw)
        name, algo = ("idx", "HNSW") if switched else ("idxf", "FLAT")
        base = sem_base(backend.options.prefix, NS)
        raw.execute_command("FT.DROPINDEX", base + name)  # records kept, index gone
        deadline = time.monotonic() + 10
        while not all_found(backend, ids):  # the search makes it again; FT.CREATE indexes the records
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert indexes(raw, backend) == {name: algo}
    finally:
        backend.close()


def test_an_hnsw_index_dropped_during_its_build_is_made_again_and_filled_from_the_start(
    url: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_index, "GROW_CHUNK", 3)
    backend = backend_for(url)
    try:
        ids = {i: int(backend.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM + 2)}
        base = sem_base(backend.options.prefix, NS)
        assert raw.get(base + "qe") is None and int(raw.get(base + "qeat") or 0) > 0  # built in part
        raw.execute_command("FT.DROPINDEX", base + "idx")
        wait_switched(backend, raw)
        assert indexes(raw, backend) == {"idx": "HNSW"}
        assert all_found(backend, ids)
    finally:
        backend.close()


def test_another_dimension_is_refused_and_nothing_stored_is_lost(url: str, raw: redis.Redis) -> None:
    backend = backend_for(url)
    try:
        ids = {i: int(backend.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM + 2)}
        wait_switched(backend, raw)
        with pytest.raises(SettingsMismatchError):
            backend.execute(Upsert(NS, record("wide", unit(1, DIM * 2))))
        with pytest.raises(SettingsMismatchError):
            backend.execute(VectorSearch(NS, "p", unit(1, DIM * 2), 1))
        other = backend_for(url)  # a fresh process learns the dimension from the server
        try:
            with pytest.raises(SettingsMismatchError):
                other.execute(Upsert(NS, record("wide", unit(1, DIM * 2))))
            assert all_found(other, ids)
        finally:
            other.close()
        assert all_found(backend, ids)
    finally:
        backend.close()


@pytest.mark.parametrize("earlier", ["hnsw", "flat"])
def test_an_index_made_before_adaptive_mode_is_adopted_or_replaced(
    redis_stack_url: str, raw: redis.Redis, earlier: str
) -> None:
    """A namespace indexed by an earlier version (``auto`` meant HNSW) or by ``index=hnsw``/``flat``: its HNSW
    index is searched as the switched-to one, with no FLAT index built beside it; a FLAT one is replaced."""
    prefix = "t" + uuid.uuid4().hex[:16]
    old = backend_for(with_prefix(redis_stack_url, index=earlier, prefix=prefix))
    try:
        ids = {i: int(old.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(5)}
    finally:
        old.close()
    backend = backend_for(with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM), prefix=prefix))
    try:
        deadline = time.monotonic() + 10
        while not all_found(backend, ids):  # a replaced FLAT index is made with a scan of the records
            assert time.monotonic() < deadline
            time.sleep(0.05)
        ids[99] = int(backend.execute(Upsert(NS, record("new", unit(99)))))
        assert all_found(backend, ids)
        assert indexes(raw, backend) == ({"idx": "HNSW"} if earlier == "hnsw" else {"idxf": "FLAT"})
    finally:
        backend.close()


def test_hnsw_m_and_ef_construction_are_url_options(redis_stack_url: str, raw: redis.Redis) -> None:
    backend = backend_for(with_prefix(redis_stack_url, index="hnsw", ef_construction="33", hnsw_m="7"))
    try:
        backend.execute(Upsert(NS, record("e", unit(1))))
        assert graph_parameters(raw, backend) == ("7", "33")
    finally:
        backend.close()


def test_an_hnsw_index_gets_the_default_graph_parameters(redis_stack_url: str, raw: redis.Redis) -> None:
    backend = backend_for(with_prefix(redis_stack_url, index="hnsw"))
    try:
        backend.execute(Upsert(NS, record("e", unit(1))))
        assert graph_parameters(raw, backend) == ("12", "40")
    finally:
        backend.close()


def graph_parameters(raw: redis.Redis, backend: RedisBackend) -> tuple[str, str]:
    """M and EF_CONSTRUCTION of the namespace's HNSW index, as ``FT.INFO`` reports them."""
    field = _vector_field(raw.ft(sem_base(backend.options.prefix, NS) + "idx").info())
    return field.get("M", "?"), field.get("ef_construction", "?")


def test_a_new_namespace_links_float16_vectors_into_its_hnsw_graph(
    url: str, redis_stack_url: str, raw: redis.Redis
) -> None:
    """Records carry their vector in float16 too, and the HNSW index is made on that copy (FLAT stays float32)."""
    backend = backend_for(url)
    try:
        ids = {i: int(backend.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM - 1)}
        assert vector_field(raw, backend, "idxf") == ("vec", "FLAT", "FLOAT32")
        wait_switched(backend, raw)
        assert vector_field(raw, backend, "idx") == ("vh", "HNSW", "FLOAT16")
        assert all_found(backend, ids)
        hits = backend.execute(VectorSearch(NS, "p", unit(3), 1))
        assert hits[0][1] == pytest.approx(1.0, abs=1e-3)  # the score of a float16 distance
        stored = raw.hget(sem_base(backend.options.prefix, NS) + f"r:{ids[3]}", "vh")
        assert np.array_equal(np.frombuffer(stored, np.float16), unit(3).astype(np.float16))
    finally:
        backend.close()
    hnsw = backend_for(with_prefix(redis_stack_url, index="hnsw"))
    try:
        hnsw.execute(Upsert(NS, record("e", unit(1))))
        assert vector_field(raw, hnsw, "idx") == ("vh", "HNSW", "FLOAT16")
        assert hnsw.execute(VectorSearch(NS, "p", unit(1), 1))[0][0].exact_key == "e"
    finally:
        hnsw.close()


@pytest.mark.parametrize("first", ["none", "flat"])
def test_records_without_the_float16_copy_keep_their_hnsw_index_on_float32(
    redis_stack_url: str, raw: redis.Redis, first: str
) -> None:
    """A namespace first written in plain mode (or by an earlier version) has records without ``vh``, and so does
    one made with ``index=flat``, which never builds a graph: an HNSW index built later stays on ``vec`` and finds
    every record, old and new."""
    prefix = "t" + uuid.uuid4().hex[:16]
    before = backend_for(with_prefix(redis_stack_url, index=first, prefix=prefix))
    try:
        ids = {i: int(before.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(5)}
    finally:
        before.close()
    assert not raw.hexists(sem_base(prefix, NS) + f"r:{ids[0]}", "vh")
    backend = backend_for(with_prefix(redis_stack_url, index="adaptive", hnsw_from=str(FROM), prefix=prefix))
    try:
        for i in range(5, FROM + 2):
            ids[i] = int(backend.execute(Upsert(NS, record(f"e{i}", unit(i)))))
        wait_switched(backend, raw)
        assert vector_field(raw, backend, "idx") == ("vec", "HNSW", "FLOAT32")
        assert all_found(backend, ids)
        assert raw.get(sem_base(prefix, NS) + "vl") is None
    finally:
        backend.close()


def test_an_hnsw_index_of_an_earlier_version_on_float32_is_searched_as_it_is(
    redis_stack_url: str, raw: redis.Redis
) -> None:
    """What an earlier version left: records without ``vh``, no ``vl``, an HNSW index on ``vec`` (FLOAT32)."""
    prefix = "t" + uuid.uuid4().hex[:16]
    base = sem_base(prefix, NS)
    old = backend_for(with_prefix(redis_stack_url, index="hnsw", prefix=prefix))
    try:
        ids = {i: int(old.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(5)}
    finally:
        old.close()
    raw.execute_command("FT.DROPINDEX", base + "idx")
    raw.delete(base + "vl")
    for entry in ids.values():
        raw.hdel(base + f"r:{entry}", "vh")
    raw.execute_command(
        "FT.CREATE", base + "idx", "ON", "HASH", "PREFIX", 1, base + "r:", "SCHEMA", "ph", "TAG", "sh", "TAG",
        "vec", "VECTOR", "HNSW", 6, "TYPE", "FLOAT32", "DIM", DIM, "DISTANCE_METRIC", "COSINE",
    )  # fmt: skip
    for index in ("hnsw", "adaptive"):
        backend = backend_for(with_prefix(redis_stack_url, index=index, hnsw_from=str(FROM), prefix=prefix))
        try:
            deadline = time.monotonic() + 10
            while not all_found(backend, ids):  # the records are scanned into the index just made
                assert time.monotonic() < deadline
                time.sleep(0.05)
            seed = 100 + len(ids)
            ids[seed] = int(backend.execute(Upsert(NS, record(f"n{seed}", unit(seed)))))
            assert all_found(backend, ids)
            assert vector_field(raw, backend, "idx") == ("vec", "HNSW", "FLOAT32")
        finally:
            backend.close()


def test_a_lookup_sends_only_the_query_blob_of_the_field_its_namespace_searches(
    url: str, raw: redis.Redis
) -> None:
    """A lookup sends the float32 query for a FLAT index and the float16 one for an HNSW index on ``vh``, learnt
    from the script's replies; after another process switched the namespace, the script asks for the blob it
    lacks once, the lookup is sent again with both, and every record is still found."""
    writer, reader = backend_for(url), backend_for(url)
    sent: list[tuple[bool, bool]] = []  # (float32 blob sent, float16 blob sent) per lookup script
    real = reader._sync.exchange

    def spy(conn: object, cmds: list[tuple[object, ...]]) -> list[object]:
        for cmd in cmds:
            if cmd[:2] == ("EVALSHA", semantic.EXACT_OR_SEARCH.sha):
                sent.append((len(cmd[8]) > 0, len(cmd[12]) > 0))  # type: ignore[arg-type]
        return real(conn, cmds)  # type: ignore[arg-type]

    reader._sync.exchange = spy  # type: ignore[method-assign]
    try:
        ids = {i: int(writer.execute(Upsert(NS, record(f"e{i}", unit(i))))) for i in range(FROM - 1)}
        for seed, entry in ids.items():
            assert reader.execute(ExactOrSearch(NS, "none", "p", unit(seed), 1))[1][0][0].id == entry
        assert sent[0] == (True, True) and set(sent[1:]) == {(True, False)}
        wait_switched(writer, raw)
        sent.clear()
        for seed, entry in ids.items():
            assert reader.execute(ExactOrSearch(NS, "none", "p", unit(seed), 1))[1][0][0].id == entry
        assert sent[:2] == [(True, False), (True, True)] and set(sent[2:]) == {(False, True)}
    finally:
        writer.close()
        reader.close()
