"""The positions of the ``n`` largest scores of a long array, faster than ``np.argpartition`` over all of it.

Why. An IVF search scores ~10k sketch rows at 100k entries and keeps the best ~30 for rescoring; numpy's
argpartition over the 10k took 65-90 us of a ~300 us search (2026-12-04, 100k random 384-d rows, the
``search`` breakdown behind ``benchmarks/sqlite_scale.py``). The maxima of blocks bound the answer instead: if
``n`` blocks have a maximum of at least ``t``, at least ``n`` scores are ``>= t``, so every one of the ``n``
largest is ``>= t``. Taking ``t`` as the ``n``-th largest block maximum leaves a few candidates to partition.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["largest"]

_BLOCKS_PER_WANTED = 4  # more blocks: a tighter bound (fewer candidates) for a larger maxima array
_MIN_BLOCK = 8  # shorter blocks save nothing over partitioning the scores themselves


def largest(scores: npt.NDArray[np.float32], n: int) -> npt.NDArray[np.intp]:
    """Positions of the ``n`` largest of ``scores`` (all of them when ``n >= len(scores)``), in no order.

    Which of several scores tied at the boundary is chosen is unspecified, as with ``np.argpartition``.
    """
    total = int(scores.shape[0])
    if n >= total:
        return np.arange(total)
    if n <= 0:
        return np.empty(0, dtype=np.intp)
    block = total // (_BLOCKS_PER_WANTED * n)
    if block >= _MIN_BLOCK:
        blocks = total // block
        maxima = scores[: blocks * block].reshape(blocks, block).max(axis=1)
        bound = np.partition(maxima, blocks - n)[blocks - n]
        candidates = np.flatnonzero(scores >= bound)  # the rows past the last whole block are compared too
        # Fewer than n only when NaN maxima took places among the n largest blocks: the bound proves nothing.
        if candidates.shape[0] >= n:
            chosen = candidates[np.argpartition(scores[candidates], candidates.shape[0] - n)]
            return chosen[candidates.shape[0] - n :]
    return np.argpartition(scores, total - n)[total - n :]
