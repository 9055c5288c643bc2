"""Unit tests of the per-partition vector index (exact scan, HNSW graph, and the switch between them)."""

from __future__ import annotations

import numpy as np
import pytest

from lix_integrations.backends.vector_index import (
    DEFAULT_EXACT_THRESHOLD,
    HnswConfig,
    VectorIndex,
)
from lix_integrations.backends.vector_index_set import IndexSet

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def random_unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    return unit(np.random.default_rng(seed).normal(size=(n, dim)))


def clustered(n: int, seed: int = 0, clusters: int = 40, spread: float = 0.25) -> np.ndarray:
    """Unit vectors around a few centres: near neighbours are close, like embeddings of paraphrases."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = centres[rng.integers(0, clusters, size=n)] + spread * rng.normal(size=(n, DIM)) / np.sqrt(DIM)
    return unit(points)


def brute_force(ids: list[int], vecs: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    scores = vecs @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return [(ids[i], float(scores[i])) for i in order]


def graph_index(threshold: int = 100, **hnsw: int) -> VectorIndex:
    return VectorIndex(DIM, exact_threshold=threshold, hnsw=HnswConfig(**hnsw))


# ---------------------------------------------------------------- basics


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_empty_index(threshold: int) -> None:
    index = VectorIndex(DIM, exact_threshold=threshold)
    assert index  # no __len__: an empty index must stay truthy
    assert index.dim == DIM
    assert index.size() == 0
    assert not index.contains(1)
    assert index.search(random_unit(1)[0], 5) == []
    index.remove([1, 2])  # missing ids are ignored
    assert index.size() == 0


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_search_returns_best_first_with_cosines(threshold: int) -> None:
    vecs = random_unit(200, seed=1)
    ids = list(range(1000, 1200))
    index = VectorIndex(DIM, exact_threshold=threshold)
    index.add(ids, vecs)
    assert index.size() == 200
    assert index.uses_graph == (threshold == 0)
    query = random_unit(1, seed=2)[0]
    got = index.search(query, 10)
    want = brute_force(ids, vecs, query, 10)
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    assert all(isinstance(i, int) and isinstance(s, float) for i, s in got)
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)
    # A stored vector finds itself with cosine 1.
    top_id, top_score = index.search(vecs[17], 1)[0]
    assert top_id == 1017
    assert top_score == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_k_larger_than_size_and_k_zero(threshold: int) -> None:
    vecs = random_unit(5, seed=3)
    index = VectorIndex(DIM, exact_threshold=threshold)
    index.add([1, 2, 3, 4, 5], vecs)
    got = index.search(vecs[0], 50)
    assert sorted(i for i, _ in got) == [1, 2, 3, 4, 5]
    assert got[0][0] == 1
    assert index.search(vecs[0], 0) == []


def test_query_shapes_and_dtypes() -> None:
    vecs = random_unit(20, seed=4)
    index = VectorIndex(DIM)
    index.add(list(range(20)), vecs)
    assert index.search(vecs[3].astype(np.float64), 1)[0][0] == 3
    assert index.search(vecs[3].reshape(1, -1), 1)[0][0] == 3
    with pytest.raises(ValueError):
        index.search(np.ones(DIM + 1, dtype=np.float32), 1)


def test_add_validates_shapes_and_ids() -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError):
        index.add([1, 2], random_unit(3))
    with pytest.raises(ValueError):
        index.add([1], random_unit(1, dim=DIM + 1))
    with pytest.raises(ValueError):
        index.add([-1], random_unit(1))
    with pytest.raises(ValueError):
        index.add([2**63], random_unit(1))
    index.add([], np.empty((0, DIM), dtype=np.float32))
    index.add([7], random_unit(1)[0])  # a single 1-D row is accepted
    assert index.size() == 1


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_large_ids(threshold: int) -> None:
    ids = [0, 2**31, 2**53 + 1, 2**63 - 1]
    vecs = random_unit(4, seed=5)
    index = VectorIndex(DIM, exact_threshold=threshold)
    index.add(ids, vecs)
    for i, v in zip(ids, vecs, strict=True):
        assert index.contains(i)
        assert index.search(v, 1)[0][0] == i
    index.remove([2**63 - 1])
    assert not index.contains(2**63 - 1)
    assert {i for i, _ in index.search(vecs[3], 10)} == set(ids[:3])


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_upsert_replaces_vector(threshold: int) -> None:
    a, b, c = random_unit(3, seed=6)
    index = VectorIndex(DIM, exact_threshold=threshold)
    index.add([1, 2], np.stack([a, c]))
    index.add([1], b.reshape(1, -1))
    assert index.size() == 2
    assert index.search(b, 1) == [(1, pytest.approx(1.0, abs=1e-5))]
    assert all(s < 0.99 for i, s in index.search(a, 2) if i == 1)


@pytest.mark.parametrize("threshold", [DEFAULT_EXACT_THRESHOLD, 0])
def test_duplicate_ids_in_one_call_last_wins(threshold: int) -> None:
    a, b = random_unit(2, seed=7)
    index = VectorIndex(DIM, exact_threshold=threshold)
    index.add([9, 9], np.stack([a, b]))
    assert index.size() == 1
    assert index.search(b, 1)[0] == (9, pytest.approx(1.0, abs=1e-5))


def test_remove_in_exact_mode_keeps_the_other_rows_findable() -> None:
    vecs = random_unit(100, seed=8)
    ids = [10 * i for i in range(100)]
    index = VectorIndex(DIM)
    index.add(ids, vecs)
    removed = set(ids[::3])
    index.remove([*removed, 123456])
    assert index.size() == 100 - len(removed)
    for i, v in zip(ids, vecs, strict=True):
        assert index.contains(i) == (i not in removed)
        if i not in removed:
            assert index.search(v, 1)[0][0] == i
    assert not removed & {i for i, _ in index.search(vecs[0], 100)}
    # Re-adding a removed id works.
    index.add([0], vecs[:1])
    assert index.search(vecs[0], 1)[0][0] == 0


def test_many_single_row_adds_grow_the_matrix() -> None:
    vecs = random_unit(700, seed=9)
    index = VectorIndex(DIM)
    for i, v in enumerate(vecs):
        index.add([i], v.reshape(1, -1))
    assert index.size() == 700
    assert not index.uses_graph
    assert [index.search(v, 1)[0][0] for v in vecs[::50]] == list(range(0, 700, 50))


# ------------------------------------------------------- exact -> graph


def test_crossing_the_threshold_switches_to_the_graph() -> None:
    vecs = clustered(400, seed=10)
    index = graph_index(threshold=100)
    for i in range(100):
        index.add([i], vecs[i : i + 1])
    assert not index.uses_graph
    index.add([5, *range(100, 150)], np.concatenate([vecs[5:6], vecs[100:150]]))  # upsert + new
    assert index.uses_graph
    assert index.size() == 150
    for i in range(150, 400):  # single-row adds into the graph, growing it past its capacity
        index.add([i], vecs[i : i + 1])
    assert index.size() == 400
    assert all(index.contains(i) for i in range(400))
    hits = sum(index.search(vecs[i], 1)[0][0] == i for i in range(400))
    assert hits >= 396


def test_recall_against_brute_force_after_the_switch() -> None:
    n = 3000
    vecs = clustered(n, seed=11)
    ids = [2**40 + 7 * i for i in range(n)]
    index = graph_index(threshold=500)
    index.add(ids[:400], vecs[:400])
    index.add(ids[400:], vecs[400:])
    assert index.uses_graph
    rng = np.random.default_rng(12)
    queries = unit(vecs[rng.integers(0, n, size=300)] + 0.3 * rng.normal(size=(300, DIM)) / np.sqrt(DIM))
    hits = 0
    for q in queries:
        want_id, want_score = brute_force(ids, vecs, q, 1)[0]
        got_id, got_score = index.search(q, 1)[0]
        hits += got_id == want_id or got_score >= want_score - 1e-6
    assert hits / len(queries) >= 0.99


def test_removed_vectors_are_never_returned_after_the_switch() -> None:
    n = 1500
    vecs = clustered(n, seed=13)
    index = graph_index(threshold=200)
    index.add(list(range(n)), vecs)
    assert index.uses_graph
    removed = set(range(0, n, 2))
    index.remove(sorted(removed))
    index.remove([0, 10**9])  # again, and unknown: ignored
    assert index.size() == n - len(removed)
    assert index.uses_graph
    for i in range(0, n, 25):
        got = index.search(vecs[i], 10)
        assert len(got) == 10
        assert not removed & {j for j, _ in got}
        if i not in removed:
            assert got[0][0] == i
    assert all(not index.contains(i) for i in removed)


def test_graph_churn_reuses_slots_and_keeps_ids_consistent() -> None:
    n = 800
    vecs = clustered(2 * n, seed=14)
    index = graph_index(threshold=100)
    index.add(list(range(n)), vecs[:n])
    live = dict(enumerate(vecs[:n]))
    rng = np.random.default_rng(15)
    next_id = n
    for _ in range(3):
        gone = rng.choice(sorted(live), size=40, replace=False).tolist()
        index.remove(gone)
        for i in gone:
            del live[i]
        for j in range(40):  # one at a time, like a cache evicting and inserting
            v = vecs[n + (next_id + j) % n]
            index.add([next_id + j], v.reshape(1, -1))
            live[next_id + j] = v
        next_id += 40
        # Re-adding an id that was removed earlier must work too.
        index.add([gone[0]], vecs[0:1])
        live[gone[0]] = vecs[0]
    assert index.uses_graph
    assert index.size() == len(live)
    for _i, v in list(live.items())[::20]:
        got = index.search(v, 5)
        assert all(j in live for j, _ in got)
        for j, s in got:
            assert s == pytest.approx(float(live[j] @ v), abs=1e-5)
        assert got[0][1] == pytest.approx(1.0, abs=1e-5)


def test_bulk_add_after_mass_removal_rebuilds_and_stays_correct() -> None:
    n = 1000
    vecs = clustered(2 * n, seed=16)
    index = graph_index(threshold=100)
    index.add(list(range(n)), vecs[:n])
    index.remove(range(0, n, 2))  # 500 tombstones
    index.add(list(range(n, 2 * n)), vecs[n:])  # reusing them one by one would cost more
    live = {i: vecs[i] for i in range(1, n, 2)} | {i: vecs[i] for i in range(n, 2 * n)}
    assert index.size() == len(live)
    ids = list(live)
    matrix = np.stack([live[i] for i in ids])
    for i in ids[::37]:
        assert index.search(live[i], 1)[0][0] == i
        assert all(j in live for j, _ in index.search(live[i], 5))
    hits = sum(index.search(q, 1)[0][0] == brute_force(ids, matrix, q, 1)[0][0] for q in vecs[: 2 * n : 41])
    assert hits >= 0.95 * len(range(0, 2 * n, 41))


def test_shrinking_partition_compacts_back_to_exact() -> None:
    n = 600
    vecs = clustered(n, seed=17)
    index = graph_index(threshold=200)
    index.add(list(range(n)), vecs)
    assert index.uses_graph
    index.remove(range(n - 40))  # 560 tombstones, 40 live: compacted, below threshold/2
    assert not index.uses_graph
    assert index.size() == 40
    for i in range(n - 40, n):
        assert index.search(vecs[i], 1)[0][0] == i
    assert {i for i, _ in index.search(vecs[0], 100)} == set(range(n - 40, n))


def test_k_close_to_size_in_the_graph() -> None:
    vecs = clustered(300, seed=18)
    index = graph_index(threshold=50)
    index.add(list(range(300)), vecs)
    index.remove(range(0, 300, 3))
    got = index.search(vecs[1], 500)
    assert sorted(i for i, _ in got) == [i for i in range(300) if i % 3]
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)


# ------------------------------------------------------------- IndexSet


def test_index_set() -> None:
    indexes = IndexSet(DIM, exact_threshold=10)
    assert indexes.dim == DIM
    assert indexes.get("a") is None
    assert indexes.partitions() == []
    a = indexes.get_or_create("a")
    assert indexes.get_or_create("a") is a
    assert indexes.get("a") is a
    assert a.dim == DIM
    b = indexes.get_or_create("b")
    vecs = random_unit(20, seed=19)
    a.add(list(range(20)), vecs)
    assert a.uses_graph  # the threshold is passed down
    assert b.size() == 0
    assert indexes.partitions() == ["a", "b"]
    indexes.drop("a")
    indexes.drop("missing")
    assert indexes.get("a") is None
    assert indexes.partitions() == ["b"]
    indexes.clear()
    assert indexes.partitions() == []


def test_large_partitions_build_their_graph_in_the_background() -> None:
    """Searches are served exactly while the graph builds; changes made meanwhile reach the graph."""
    vecs = clustered(3000, seed=11)
    ids = list(range(3000))
    index = VectorIndex(DIM, exact_threshold=100, background_build_min=1000)
    index.add(ids, vecs)
    assert index.building and not index.uses_graph
    query = vecs[5]
    assert index.search(query, 1)[0][0] == 5  # exact answer while the graph is being built
    extra = random_unit(50, seed=12)
    index.add(list(range(10_000, 10_050)), extra)
    index.remove([5, 6, 7])
    assert index.size() == 3000 + 50 - 3
    assert index.wait_for_build(timeout=60)
    assert index.uses_graph and not index.building
    assert index.size() == 3047
    assert all(i not in (5, 6, 7) for i, _ in index.search(query, 10))
    assert index.search(extra[3], 1)[0][0] == 10_003
    assert index.contains(10_049) and not index.contains(6)
    hits = sum(index.search(vecs[i], 1)[0][0] == i for i in range(100, 400))
    assert hits >= 297  # recall of the adopted graph
