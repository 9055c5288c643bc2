"""The IVF index file's search (issue 19): sketch scan plus exact rescoring, probes calibrated on the rows.

Recall is checked against a brute-force scan on random unit vectors, the hardest case for an IVF index (no cluster
structure), for queries at the calibration's cosine and above: the served entry must be the exact nearest for at
least 99% of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lix_integrations.backends.ivf_file import IvfFile, Stamp, build_arrays, open_ivf, write_ivf
from lix_integrations.backends.ivf_partition import LargePartition
from lix_integrations.backends.ivf_train import CALIBRATION_COSINE

DIM = 64


def _unit(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def _near(rows: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(rows.shape).astype(np.float32)
    noise = _unit(noise - (noise * rows).sum(axis=1, keepdims=True) * rows)
    return _unit(cosine * rows + np.sqrt(1 - cosine**2) * noise)


def _data(rows: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    vecs = _unit(np.random.default_rng(0).standard_normal((rows, DIM)).astype(np.float32))
    return np.arange(1, rows + 1, dtype=np.int64), vecs


def test_top1_recall_against_brute_force_at_the_calibrated_cosine(tmp_path: Path) -> None:
    ids, vecs = _data()
    path = tmp_path / "p.ivf"
    write_ivf(path, build_arrays(ids, vecs), Stamp(0, 0, 0), "store")
    index = open_ivf(path, DIM, "store")
    assert index is not None and index.probes < index.arrays.centroids.shape[0]  # not a full scan
    picks = np.random.default_rng(1).choice(ids.shape[0], 500, replace=False)
    for cosine in (CALIBRATION_COSINE, 0.95):
        queries = _near(vecs[picks], cosine, seed=int(cosine * 100))
        exact = ids[np.argmax(queries @ vecs.T, axis=1)]
        found = np.array([index.search(q, 1, None)[0][0] for q in queries])
        assert (found == exact).mean() >= 0.99, cosine
    index.close()


def test_scores_are_exact_cosines_and_deleted_rows_are_left_out() -> None:
    ids, vecs = _data(5_000)
    part = LargePartition(IvfFile(build_arrays(ids, vecs), Stamp(0, 0, 0)), DIM)
    query = vecs[10]
    (best, score), *_ = part.search(query, 4)
    assert best == ids[10] and abs(score - 1.0) < 1e-5
    part.remove([int(ids[10])])
    assert all(entry_id != ids[10] for entry_id, _ in part.search(query, 4))
    part.add([99_999], query.reshape(1, -1))  # the tail is searched in the probed cells
    assert part.search(query, 1)[0][0] == 99_999


def test_a_file_of_the_older_format_is_not_served(tmp_path: Path) -> None:
    ids, vecs = _data(500)
    path = tmp_path / "p.ivf"
    write_ivf(path, build_arrays(ids, vecs), Stamp(0, 0, 0), "store")
    raw = bytearray(path.read_bytes())
    raw[:8] = b"LIXIVF01"
    path.write_bytes(bytes(raw))
    assert open_ivf(path, DIM, "store") is None
