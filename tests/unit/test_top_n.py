"""`largest`: the block-maxima bound must pick exactly the n largest scores, whatever the array holds."""

from __future__ import annotations

import numpy as np
import pytest

from lix_integrations.backends.top_n import largest


@pytest.mark.parametrize("total", [1, 7, 100, 1_000, 10_701])
@pytest.mark.parametrize("n", [1, 5, 32, 200])
def test_the_chosen_are_the_n_largest(total: int, n: int) -> None:
    scores = np.random.default_rng(total * 1_000 + n).standard_normal(total).astype(np.float32)
    chosen = largest(scores, n)
    assert len(set(chosen.tolist())) == len(chosen) == min(n, total)
    assert sorted(scores[chosen].tolist()) == sorted(np.sort(scores)[total - min(n, total) :].tolist())


def test_ties_and_clustered_maxima_still_give_exactly_n() -> None:
    # Every block's maximum equal: the bound admits many candidates, which are cut to n.
    scores = np.zeros(4_096, dtype=np.float32)
    scores[::16] = 1.0
    chosen = largest(scores, 20)
    assert len(chosen) == 20 and set(scores[chosen].tolist()) == {1.0}
    # The largest all in one block: the bound (the n-th block maximum) is low, every one of them still chosen.
    scores = np.random.default_rng(3).random(8_000).astype(np.float32)
    scores[100:130] += 10.0
    assert set(largest(scores, 30).tolist()) == set(range(100, 130))


def test_nan_scores_fall_back_to_a_full_partition() -> None:
    scores = np.random.default_rng(4).standard_normal(5_000).astype(np.float32)
    scores[::50] = np.nan  # every block's maximum NaN: the bound proves nothing
    chosen = largest(scores, 10)
    assert len(chosen) == 10
    assert np.array_equal(np.sort(chosen), np.sort(np.argpartition(scores, 4_990)[4_990:]))


def test_nothing_wanted_gives_nothing() -> None:
    assert largest(np.ones(100, dtype=np.float32), 0).shape == (0,)
