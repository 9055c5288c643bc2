"""LixKVStore: the BaseKVStore battery on memory and SQLite, sync and async, and the LlamaIndex consumers.

The consumers are real LlamaIndex objects: an ``IngestionPipeline`` with an ``IngestionCache`` on our store, and a
``StorageContext`` whose docstore and index store live in our store, persisted and reloaded through it.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from llama_index.core import Document, StorageContext, SummaryIndex, load_index_from_storage
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.ingestion import IngestionCache, IngestionPipeline
from llama_index.core.schema import BaseNode, TransformComponent
from llama_index.core.storage.docstore.keyval_docstore import KVDocumentStore
from llama_index.core.storage.index_store.keyval_index_store import KVIndexStore
from pydantic import Field

from lix_integrations import ConfigError, Engine, InvalidIdError, InvalidInputError
from lix_integrations.llama_index import LixKVStore
from lix_integrations.testing import FakeClock, FakeEmbedder
from lix_integrations.tiers.kv import KvConfig

BACKENDS = ["memory", "sqlite"]
MODES = ["sync", "async"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return f"memory://kv-{uuid.uuid4().hex}"
    return f"sqlite:///{tmp_path}/kv.db"


class Driver:
    """The store's sync methods, or its async methods each run to completion (so one test covers both)."""

    def __init__(self, store: LixKVStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)(*args, **kwargs)
        return asyncio.run(getattr(self.store, "a" + name)(*args, **kwargs))


@pytest.fixture(params=MODES)
def kv(request: pytest.FixtureRequest, url: str) -> Driver:
    return Driver(LixKVStore(url=url, embedder=FakeEmbedder()), request.param)


# -- the BaseKVStore battery --------------------------------------------------------------------------------


def test_put_get_roundtrip_and_missing(kv: Driver) -> None:
    value = {"text": "héllo", "n": 1, "f": 1.5, "none": None, "nested": {"list": [1, "two", {"three": 3}]}}
    assert kv("get", "k") is None
    kv("put", "k", value)
    assert kv("get", "k") == value
    assert kv("get", "other") is None
    assert kv("get", "k", collection="elsewhere") is None


def test_put_replaces(kv: Driver) -> None:
    kv("put", "k", {"v": 1})
    kv("put", "k", {"v": 2})
    assert kv("get", "k") == {"v": 2}
    assert kv("get_all") == {"k": {"v": 2}}


def test_returned_values_are_copies(kv: Driver) -> None:
    value = {"list": [1]}
    kv("put", "k", value)
    value["list"].append(2)
    got = kv("get", "k")
    assert got == {"list": [1]}
    got["list"].append(3)
    assert kv("get", "k") == {"list": [1]}


@pytest.mark.parametrize(
    "collections",
    [
        ["data", "docstore/data", "docstore/metadata", "docstore/ref_doc_info", "index_store/data"],
        ["a/b", "a", "a/", "/a", "a//b", "kv:a/b", "ç/ü 空", "a%_\\"],
    ],
)
def test_collections_are_kept_apart(kv: Driver, collections: list[str]) -> None:
    for i, collection in enumerate(collections):
        kv("put", "same-key", {"i": i}, collection=collection)
        kv("put", f"only-{i}", {"i": i}, collection=collection)
    for i, collection in enumerate(collections):
        assert kv("get", "same-key", collection=collection) == {"i": i}
        assert kv("get_all", collection=collection) == {"same-key": {"i": i}, f"only-{i}": {"i": i}}
    assert kv("delete", "same-key", collection=collections[0]) is True
    assert kv("get", "same-key", collection=collections[0]) is None
    for i, collection in enumerate(collections[1:], start=1):
        assert kv("get", "same-key", collection=collection) == {"i": i}


def test_default_collection_is_data(kv: Driver) -> None:
    kv("put", "k", {"v": 1})
    assert kv("get", "k", collection="data") == {"v": 1}


def test_delete_returns_whether_the_key_existed(kv: Driver) -> None:
    assert kv("delete", "missing") is False
    kv("put", "k", {"v": 1})
    assert kv("delete", "k", collection="other") is False
    assert kv("delete", "k") is True
    assert kv("delete", "k") is False
    assert kv("get", "k") is None
    assert kv("get_all") == {}


def test_get_all_of_an_empty_or_unknown_collection(kv: Driver) -> None:
    assert kv("get_all") == {}
    assert kv("get_all", collection="never/used") == {}


@pytest.mark.parametrize("batch_size", [1, 7, 100])
@pytest.mark.parametrize("count", [0, 1, 50, 250])
def test_put_all_batches_one_round_trip_per_batch(kv: Driver, batch_size: int, count: int) -> None:
    pairs = [(f"key-{i:04d}", {"i": i, "text": f"value {i}"}) for i in range(count)]
    before = kv.store.stats()
    kv("put_all", pairs, collection="docstore/data", batch_size=batch_size)
    after = kv.store.stats()
    assert after.put_batches - before.put_batches == -(-count // batch_size)
    assert after.puts - before.puts == count
    assert kv("get_all", collection="docstore/data") == dict(pairs)


def test_get_all_reads_past_one_scan_page(kv: Driver) -> None:
    pairs = [(f"k{i:05d}", {"i": i}) for i in range(2345)]
    kv("put_all", pairs, batch_size=1000)
    found = kv("get_all")
    assert list(found) == sorted(k for k, _ in pairs)
    assert found == dict(pairs)


def test_put_all_with_a_bad_pair_stores_nothing(kv: Driver) -> None:
    pairs: list[Any] = [("a", {"v": 1}), ("b", {"v": object()}), ("c", {"v": 3})]
    with pytest.raises(InvalidInputError, match="'b'"):
        kv("put_all", pairs, batch_size=1)
    assert kv("get_all") == {}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None])
def test_bad_batch_size_is_refused(kv: Driver, bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="batch_size"):
        kv("put_all", [("a", {"v": 1})], batch_size=bad)
    assert kv("get_all") == {}


@pytest.mark.parametrize("value", [[1, 2], "text", None, 3])
def test_non_dict_values_are_refused(kv: Driver, value: Any) -> None:
    with pytest.raises(InvalidInputError, match="must be a dict"):
        kv("put", "k", value)
    assert kv("get", "k") is None


@pytest.mark.parametrize("collection", ["", "\ud800", "a\x00b", "x" * 600, None, 3])
def test_bad_collection_names_are_refused(kv: Driver, collection: Any) -> None:
    with pytest.raises(InvalidIdError):
        kv("put", "k", {"v": 1}, collection=collection)


@pytest.mark.parametrize("key", ["\udfff", "a\x00", 5, None])
def test_bad_keys_are_refused(kv: Driver, key: Any) -> None:
    with pytest.raises(InvalidIdError):
        kv("put", key, {"v": 1})


def test_odd_keys_round_trip(kv: Driver) -> None:
    keys = ["", " ", "a/b", "%", "_", "\\", "ключ", "🙂", "x" * 4000, "a\nb"]
    kv("put_all", [(k, {"k": k}) for k in keys], batch_size=3)
    assert kv("get_all") == {k: {"k": k} for k in keys}
    for k in keys:
        assert kv("get", k) == {"k": k}


def test_an_empty_store_is_truthy_and_has_no_len(url: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    assert bool(store) is True
    assert not hasattr(store, "__len__")


def test_two_stores_on_one_url_share_data(url: str) -> None:
    first = LixKVStore(url=url, embedder=FakeEmbedder())
    second = LixKVStore(url=url, embedder=FakeEmbedder())
    first.put("k", {"v": 1}, collection="c/d")
    assert second.get("k", collection="c/d") == {"v": 1}


def test_ttl_from_kv_config_uses_the_engine_clock(url: str) -> None:
    clock = FakeClock()
    store = LixKVStore(url=url, embedder=FakeEmbedder(), clock=clock, kv=KvConfig(ttl=60))
    store.put("k", {"v": 1})
    clock.advance(59)
    assert store.get("k") == {"v": 1}
    clock.advance(2)
    assert store.get("k") is None
    assert store.get_all() == {}


def test_clear_and_keys(url: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    store.put_all([("b", {}), ("a", {})], collection="x/y", batch_size=2)
    store.put("c", {}, collection="x")
    assert store.keys("x/y") == ["a", "b"]
    assert store.clear("x/y") == 2
    assert store.get_all("x/y") == {}
    assert store.keys("x") == ["c"]


def test_shared_engine_and_engine_options(url: str) -> None:
    engine = Engine(url, embedder=FakeEmbedder())
    store = LixKVStore(engine)
    store.put("k", {"v": 1})
    assert engine.kv.get("k", "data") == {"v": 1}
    assert LixKVStore(engine.aio).engine.kv.get("k", "data") == {"v": 1}
    with pytest.raises(ConfigError, match="namespace"):
        LixKVStore(engine, namespace="other")
    with pytest.raises(ConfigError):
        LixKVStore(42)  # type: ignore[arg-type]


def test_namespaces_are_kept_apart(url: str) -> None:
    one = LixKVStore(url=url, embedder=FakeEmbedder(), namespace="one")
    two = LixKVStore(url=url, embedder=FakeEmbedder(), namespace="two")
    one.put("k", {"v": 1})
    assert two.get("k") is None


async def test_async_methods_do_not_use_threads(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if url.startswith("memory"):

        def no_threads(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("asyncio.to_thread used by an in-memory async KV call")

        monkeypatch.setattr(asyncio, "to_thread", no_threads)
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    await store.aput_all([("a", {"v": 1}), ("b", {"v": 2})], batch_size=1)
    assert await store.aget_all() == {"a": {"v": 1}, "b": {"v": 2}}
    assert await store.adelete("a") is True


# -- copying and pickling -----------------------------------------------------------------------------------


def test_pickle_reopens_the_same_store_without_carrying_data(url: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder(), namespace="pickled")
    store.put("k", {"v": "x" * 10_000})
    blob = pickle.dumps(store)
    assert b"x" * 100 not in blob  # configuration only, never data
    clone = pickle.loads(blob)  # noqa: S301 - bytes this test just produced
    assert clone.get("k") == {"v": "x" * 10_000}
    clone.put("k2", {"v": 2})
    assert store.get("k2") == {"v": 2}
    assert clone.engine.namespace == "pickled"


def test_private_memory_store_refuses_pickling_but_copies_share() -> None:
    store = LixKVStore(url="memory://", embedder=FakeEmbedder())
    with pytest.raises(ConfigError, match="memory://NAME"):
        pickle.dumps(store)
    duplicate = copy.deepcopy(store)
    duplicate.put("k", {"v": 1})
    assert store.get("k") == {"v": 1}
    assert copy.copy(store).get("k") == {"v": 1}


def test_default_store_pickles_to_the_resolved_path() -> None:
    store = LixKVStore(embedder=FakeEmbedder())
    store.put("k", {"v": 1})
    clone = pickle.loads(pickle.dumps(store))  # noqa: S301 - bytes this test just produced
    assert clone.engine.url == store.engine.url
    assert clone.get("k") == {"v": 1}


# -- IngestionPipeline --------------------------------------------------------------------------------------


class CountingSplitter(TransformComponent):
    """Splits documents on blank lines and appends one line per call to ``log_path`` (works across processes)."""

    log_path: str = Field(description="file counting the calls")

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[BaseNode]:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{len(nodes)}\n")
        out: list[BaseNode] = []
        for node in nodes:
            for i, part in enumerate(node.get_content().split("\n\n")):
                out.append(Document(text=part, id_=f"{node.node_id}-{i}", metadata=dict(node.metadata)))
        return out


def _calls(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _documents() -> list[Document]:
    return [
        Document(text=f"Paragraph one of {i}.\n\nParagraph two of {i}.", id_=f"doc-{i}", metadata={"i": i})
        for i in range(5)
    ]


@pytest.mark.parametrize("mode", MODES)
def test_ingestion_pipeline_second_run_performs_no_transformation(
    url: str, tmp_path: Path, mode: str
) -> None:
    log = tmp_path / "calls.log"

    def run() -> list[BaseNode]:
        # A fresh pipeline and store each time: the cache lives in the engine's store, not in the objects.
        cache = IngestionCache(cache=LixKVStore(url=url, embedder=FakeEmbedder()), collection="ingest/cache")
        pipeline = IngestionPipeline(transformations=[CountingSplitter(log_path=str(log))], cache=cache)
        if mode == "sync":
            return pipeline.run(documents=_documents())
        return asyncio.run(pipeline.arun(documents=_documents()))

    first = run()
    assert _calls(log) == 1
    second = run()
    assert _calls(log) == 1  # every step came from the cache
    assert [n.get_content() for n in second] == [n.get_content() for n in first]
    assert [n.metadata for n in second] == [n.metadata for n in first]
    assert len(first) == 10


def test_ingestion_cache_clear_goes_through_our_store(url: str) -> None:
    store = LixKVStore(url=url, embedder=FakeEmbedder())
    cache = IngestionCache(cache=store, collection="ingest/cache")
    cache.put("h", [Document(text="x", id_="d")])
    assert [n.get_content() for n in cache.get("h") or []] == ["x"]
    cache.clear()
    assert store.get_all("ingest/cache") == {}


def test_ingestion_pipeline_with_worker_processes_shares_a_sqlite_cache(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    log = tmp_path / "calls.log"

    def pipeline() -> IngestionPipeline:
        cache = IngestionCache(cache=LixKVStore(url=url, embedder=FakeEmbedder()), collection="ingest/cache")
        return IngestionPipeline(transformations=[CountingSplitter(log_path=str(log))], cache=cache)

    first = pipeline().run(documents=_documents(), num_workers=2)
    calls = _calls(log)
    assert calls >= 2  # one call per worker batch, made in the worker processes
    second = pipeline().run(documents=_documents(), num_workers=2)
    assert _calls(log) == calls  # the workers found every batch in the shared store
    assert sorted(n.get_content() for n in second) == sorted(n.get_content() for n in first)


# -- StorageContext ----------------------------------------------------------------------------------------


def test_storage_context_persisted_and_reloaded_through_our_store(url: str) -> None:
    def storage(store: LixKVStore) -> StorageContext:
        return StorageContext.from_defaults(
            docstore=KVDocumentStore(store, batch_size=7), index_store=KVIndexStore(store)
        )

    store = LixKVStore(url=url, embedder=FakeEmbedder())
    context = storage(store)
    index = SummaryIndex.from_documents(_documents(), storage_context=context)
    index.set_index_id("summary")
    expected = sorted(node.get_content() for node in context.docstore.docs.values())
    assert len(expected) >= 5

    # A new store object on the same URL: everything comes back from the engine's store.
    reopened = LixKVStore(url=url, embedder=FakeEmbedder())
    assert set(reopened.get_all("index_store/data")) == {"summary"}
    loaded = load_index_from_storage(storage(reopened), index_id="summary")
    assert isinstance(loaded, SummaryIndex)
    assert sorted(node.get_content() for node in loaded.docstore.docs.values()) == expected
    assert loaded.index_struct.nodes == index.index_struct.nodes
    assert loaded.docstore.get_all_ref_doc_info() == index.docstore.get_all_ref_doc_info()

    # Deleting a document through the reloaded index is visible to a third store on the same URL.
    loaded.delete_ref_doc("doc-0", delete_from_docstore=True)
    third = KVDocumentStore(LixKVStore(url=url, embedder=FakeEmbedder()))
    assert third.get_ref_doc_info("doc-0") is None
    assert third.get_ref_doc_info("doc-1") is not None


async def test_storage_context_async_docstore_calls(url: str) -> None:
    docstore = KVDocumentStore(LixKVStore(url=url, embedder=FakeEmbedder()), batch_size=3)
    docs = _documents()
    await docstore.async_add_documents(docs)
    assert sorted((await docstore.aget_all_document_hashes()).values()) == sorted(d.node_id for d in docs)
    got = await docstore.aget_document("doc-2")
    assert got is not None and got.get_content() == docs[2].get_content()
    await docstore.adelete_document("doc-2")
    assert await docstore.aget_document("doc-2", raise_error=False) is None


# -- long keys (issue 15, trap 2): LlamaIndex keys its embedding cache by raw chunk text ------------------------


def test_long_keys_round_trip(kv: Driver) -> None:
    from lix_integrations.tiers.kv import DIRECT_KEY_CHARS, storage_key

    long_key = "chunk text " * 10_000  # 110,000 characters
    same_head = ["a" * 5000 + "1", "a" * 5000 + "2"]
    edge = ["b" * DIRECT_KEY_CHARS, "b" * (DIRECT_KEY_CHARS + 1)]
    lookalike = storage_key(long_key)  # a user key spelled like a stored digest key is still its own key
    keys = [long_key, *same_head, *edge, lookalike, "short"]
    kv("put_all", [(k, {"n": i}) for i, k in enumerate(keys)], batch_size=2)
    everything = kv("get_all")
    assert everything == {k: {"n": i} for i, k in enumerate(keys)}
    assert list(everything) == sorted(keys)
    for i, k in enumerate(keys):
        assert kv("get", k) == {"n": i}
    assert kv("get", long_key + "x") is None
    assert kv("delete", same_head[0]) is True
    assert kv("get", same_head[0]) is None and kv("get", same_head[1]) == {"n": 2}
    kv("put", long_key, {"n": "replaced"})
    assert kv("get", long_key) == {"n": "replaced"}
    assert sorted(kv.store._engine.kv.keys("data")) == sorted(k for k in keys if k != same_head[0])


class CountingEmbedding(MockEmbedding):
    """A mock embedding model that records every text it embeds (a class-level log: pydantic models are frozen-ish)."""

    embedded: ClassVar[list[int]] = []

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        CountingEmbedding.embedded.extend(len(t) for t in texts)
        return super()._get_text_embeddings(texts)


def test_ingestion_pipeline_with_a_100k_character_chunk(url: str) -> None:
    text = "".join(f"sentence {i} of a very long chunk. " for i in range(3000))[:100_000]
    assert len(text) == 100_000
    CountingEmbedding.embedded.clear()

    def run(with_ingestion_cache: bool) -> list[BaseNode]:
        embed = CountingEmbedding(embed_dim=4, embeddings_cache=LixKVStore(url=url, embedder=FakeEmbedder()))
        cache = (
            IngestionCache(cache=LixKVStore(url=url, embedder=FakeEmbedder()))
            if with_ingestion_cache
            else None
        )
        pipeline = IngestionPipeline(transformations=[embed], cache=cache)
        return pipeline.run(documents=[Document(text=text, id_="long")])

    first = run(True)
    assert CountingEmbedding.embedded == [100_000] and first[0].embedding == [0.5] * 4
    second = run(True)  # the IngestionCache serves the whole step
    assert CountingEmbedding.embedded == [100_000] and second[0].embedding == first[0].embedding
    third = run(False)  # no ingestion cache: the embedding cache, keyed by the 100k-character text, serves it
    assert CountingEmbedding.embedded == [100_000] and third[0].embedding == first[0].embedding
    stored = LixKVStore(url=url, embedder=FakeEmbedder()).get_all(collection="embeddings")
    assert list(stored) == [text]
