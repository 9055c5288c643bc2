"""A rewrite's merge (issue 19): written as runs of the old file and the tail, it must write the very bytes the
gathering merge (every row concatenated and sorted by cell in memory) wrote, and serve the same rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lix_integrations.backends.ivf_file import IvfArrays, IvfFile, Stamp, build_arrays, open_ivf, write_ivf
from lix_integrations.backends.ivf_merge import MergedRows
from lix_integrations.backends.ivf_partition import LargePartition, Snapshot
from lix_integrations.backends.ivf_train import row_products

DIM = 32


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def _gathered(s: Snapshot) -> IvfArrays:
    """The merge as it was written before: every row concatenated, then grouped by cell in memory."""
    a = s.base
    keep = ~np.isin(a.ids, np.array(sorted(s.deleted), dtype=np.int64)) if s.deleted else slice(None)
    ids = np.concatenate([a.ids[keep], s.tail_ids])
    vecs = np.concatenate([a.vectors[keep], s.tail_vecs])
    cells = np.concatenate([a.cells()[keep], s.tail_cells])
    sketches = np.concatenate([a.sketches[keep], row_products(s.tail_vecs, a.projection)])
    return build_arrays(ids, vecs, a.centroids, a.trained, cells, a.projection, sketches)


@pytest.mark.parametrize("deleted", [0, 1, 700])
def test_the_merge_writes_the_bytes_the_gathering_merge_wrote(tmp_path: Path, deleted: int) -> None:
    rng = np.random.default_rng(3)
    ids = np.arange(1, 6_001, dtype=np.int64)
    path = tmp_path / "p.ivf"
    write_ivf(path, build_arrays(ids, _unit(rng.standard_normal((6_000, DIM)))), Stamp(1, 1, 1), "s")
    mapped = open_ivf(path, DIM, "s")
    assert mapped is not None
    part = LargePartition(mapped, DIM)
    part.add(list(range(10_001, 11_501)), _unit(rng.standard_normal((1_500, DIM))))
    part.remove(rng.choice(ids, deleted, replace=False).tolist() + [10_001, 10_002])  # old rows and tail rows
    if deleted:
        part.remove([int(ids[-1])])  # the last old row: a run ending at the old file's end
    snapshot = part.snapshot()
    merged = snapshot.merged()
    assert isinstance(merged, MergedRows)
    write_ivf(tmp_path / "new.ivf", merged, Stamp(2, 2, 2), "s")
    write_ivf(tmp_path / "old.ivf", _gathered(snapshot), Stamp(2, 2, 2), "s")
    assert (tmp_path / "new.ivf").read_bytes() == (tmp_path / "old.ivf").read_bytes()
    expected, got = _gathered(snapshot), merged.materialized()
    for name in ("offsets", "ids", "sketches", "vectors"):
        assert np.array_equal(getattr(expected, name), getattr(got, name)), name
    assert got.probes == expected.probes
    mapped.close()


def test_a_merge_of_nothing_left_writes_an_empty_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    ids = np.arange(1, 2_001, dtype=np.int64)
    base = build_arrays(ids, _unit(rng.standard_normal((2_000, DIM))))
    part = LargePartition(IvfFile(base, Stamp(0, 0, 0)), DIM)
    part.remove(ids.tolist())
    merged = part.snapshot().merged()
    write_ivf(tmp_path / "empty.ivf", merged, Stamp(1, 1, 1), "s")
    reopened = open_ivf(tmp_path / "empty.ivf", DIM, "s")
    assert reopened is not None and reopened.arrays.rows == 0
    reopened.close()


def test_a_merge_of_nothing_left_is_kept_in_memory_as_an_empty_index() -> None:
    """A store with no index directory (``sqlite:///:memory:``), or a file that could not be written, keeps the
    merge in memory (`MergedRows.materialized`): with every row deleted that is an empty index, which finds
    nothing. It raised (no runs to concatenate), so the rewrite failed on the worker and the partition kept its
    old file and every deletion, rewritten in vain after each later change."""
    rng = np.random.default_rng(4)
    ids = np.arange(1, 2_001, dtype=np.int64)
    part = LargePartition(
        IvfFile(build_arrays(ids, _unit(rng.standard_normal((2_000, DIM)))), Stamp(0, 0, 0)), DIM
    )
    part.remove(ids.tolist())
    merged = part.snapshot().merged()
    assert isinstance(merged, MergedRows)
    arrays = merged.materialized()
    assert arrays.rows == 0
    assert arrays.ids.dtype == np.int64 and arrays.vectors.shape == (0, DIM)
    assert arrays.sketches.shape == (0, merged.base.sketches.shape[1])
    emptied = LargePartition(IvfFile(arrays, Stamp(1, 1, 1)), DIM)
    assert emptied.search(_unit(rng.standard_normal((1, DIM)))[0], 3) == []


def test_a_batch_is_assigned_row_by_row_to_the_cells_a_matrix_product_picks() -> None:
    """`assign` takes matrix-vector products for a batch (no BLAS threads left spinning): the same cells."""
    from lix_integrations.backends.ivf_train import _assign_blocked, assign

    rng = np.random.default_rng(5)
    centroids = _unit(rng.standard_normal((40, DIM)))
    rows = _unit(rng.standard_normal((700, DIM)))
    assert np.array_equal(assign(rows, centroids), _assign_blocked(rows, centroids))
    assert np.allclose(row_products(rows, centroids), rows @ centroids.T, atol=1e-5)
