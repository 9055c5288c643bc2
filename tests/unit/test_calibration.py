"""Calibration replays labelled pairs through a one-partition cache; hand-made vectors make every count known."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from lix_integrations.calibration import (
    DEFAULT_THRESHOLDS,
    Curve,
    PairSet,
    ThresholdPoint,
    curve_from_vectors,
    evaluate,
)
from lix_integrations.errors import InvalidInputError, InvalidVectorError


def unit_at(cos: float) -> list[float]:
    """A 2-D unit vector whose cosine with (1, 0) is ``cos``."""
    return [cos, math.sqrt(max(0.0, 1.0 - cos * cos))]


def point(curve: Curve, threshold: float) -> tuple[int, int]:
    p = curve.at(threshold)
    return p.hits, p.correct


# --- the cache semantics ---------------------------------------------------------------------------------------


def test_own_entry_hit_is_correct_and_counts_match_threshold():
    # Stored q1 "a" along x, "b" along y (orthogonal, so each q2 is clearly nearest its own q1).
    pairs = PairSet(q1=["a", "b"], q2=["a2", "b2"], labels=[1, 1])
    q1 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    q2 = np.array([[0.9, 0.0, math.sqrt(1 - 0.81)], [0.0, 0.7, math.sqrt(1 - 0.49)]])
    curve = curve_from_vectors(pairs, q1, q2, thresholds=[0.6, 0.8, 0.95])
    assert point(curve, 0.6) == (2, 2)
    assert point(curve, 0.8) == (1, 1)
    assert point(curve, 0.95) == (0, 0)
    p = curve.at(0.8)
    assert p.precision == 1.0
    assert p.recall == 0.5
    assert p.f1 == pytest.approx(2 / 3)
    assert p.hit_rate == 0.5


def test_hit_on_another_pairs_q1_is_a_hit_but_not_correct():
    # Pair 0 is a duplicate, but its q2 is closer to pair 1's q1: the cache would serve pair 1's answer.
    pairs = PairSet(q1=["a", "b"], q2=["a2", "b2"], labels=[1, 0])
    q1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    # q2 "a2": cos 0.3 with "a" and ~0.95 with "b". q2 "b2": cos 0.95 with "a" and ~0.31 with "b".
    q2 = np.array([unit_at(0.3), unit_at(0.95)])
    curve = curve_from_vectors(pairs, q1, q2, thresholds=[0.5])
    p = curve.at(0.5)
    # "a2" is served "b" (another pair's entry): a hit, wrong answer although pair 0 is a duplicate.
    # "b2" is served "a" (also not its own q1, and pair 1 is labelled 0 anyway): a hit, not correct.
    assert (p.hits, p.correct) == (2, 0)
    assert p.precision == 0.0
    assert p.recall == 0.0
    assert p.f1 == 0.0


def test_label_zero_hit_on_own_q1_is_not_correct():
    pairs = PairSet(q1=["a"], q2=["a2"], labels=[0])
    curve = curve_from_vectors(pairs, [[1.0, 0.0]], [unit_at(0.99)], thresholds=[0.9])
    assert point(curve, 0.9) == (1, 0)
    assert curve.at(0.9).recall == 0.0  # no duplicates at all: recall is 0, not a division error


def test_duplicate_q1_texts_are_one_entry_and_count_as_own():
    # Two pairs share q1 text "a"; the stored entry is the first row's vector. Both q2 served "a" are correct.
    pairs = PairSet(q1=["a", "a", "b"], q2=["x", "y", "z"], labels=[1, 1, 1])
    q1 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    q2 = np.array([unit_at(0.9), unit_at(0.85), [0.0, 1.0]])
    curve = curve_from_vectors(pairs, q1, q2, thresholds=[0.8])
    assert point(curve, 0.8) == (3, 3)


def test_duplicate_q1_text_uses_first_seen_vector():
    # The second "a" row has a different vector; the cache holds one entry per text, the first one written.
    pairs = PairSet(q1=["a", "a"], q2=["x", "y"], labels=[1, 1])
    q1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    q2 = np.array([[1.0, 0.0], [0.0, 1.0]])
    curve = curve_from_vectors(pairs, q1, q2, thresholds=[0.5])
    # q2 "y" (along y) has cosine 0 with the single stored "a" (along x): a miss.
    assert point(curve, 0.5) == (1, 1)


def test_identical_texts_hit_at_threshold_one_despite_rounding():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(5, 384)).astype(np.float32)
    pairs = PairSet(q1=list("abcde"), q2=list("abcde"), labels=[1] * 5)
    curve = curve_from_vectors(pairs, vecs, vecs * 3.0, thresholds=[1.0])  # unnormalized on purpose
    assert point(curve, 1.0) == (5, 5)


def test_negative_cosine_clips_to_zero_and_hits_at_threshold_zero():
    pairs = PairSet(q1=["a"], q2=["b"], labels=[1])
    curve = curve_from_vectors(pairs, [[1.0, 0.0]], [[-1.0, 0.0]], thresholds=[0.0, 0.001])
    assert point(curve, 0.0) == (1, 1)
    assert point(curve, 0.001) == (0, 0)


def test_hit_rate_and_hits_are_monotone_over_default_thresholds():
    rng = np.random.default_rng(1)
    n, dim = 200, 16
    base = rng.normal(size=(n, dim))
    q2 = base + rng.normal(scale=0.6, size=(n, dim))
    labels = rng.integers(0, 2, size=n).tolist()
    pairs = PairSet(q1=[f"q{i}" for i in range(n)], q2=[f"r{i}" for i in range(n)], labels=labels)
    curve = curve_from_vectors(pairs, base, q2)
    thresholds = [p.threshold for p in curve.points]
    assert thresholds == list(DEFAULT_THRESHOLDS)
    assert thresholds[0] == 0.5 and thresholds[-1] == 1.0 and len(thresholds) == 101
    for lo, hi in zip(curve.points, curve.points[1:]):
        assert hi.hit_rate <= lo.hit_rate
        assert hi.hits <= lo.hits
        assert hi.correct <= lo.correct
        assert hi.recall <= lo.recall
    for p in curve.points:
        assert 0 <= p.correct <= p.hits <= n
        assert p.hit_rate == p.hits / n


def test_thresholds_are_sorted_and_deduplicated():
    pairs = PairSet(q1=["a"], q2=["b"], labels=[1])
    curve = curve_from_vectors(pairs, [[1.0, 0.0]], [[1.0, 0.0]], thresholds=[0.9, 0.5, 0.9, 0.7])
    assert [p.threshold for p in curve.points] == [0.5, 0.7, 0.9]


# --- evaluate: embedding -----------------------------------------------------------------------------------------


def test_evaluate_embeds_each_unique_text_once_and_matches_vectors():
    table = {"a": [2.0, 0.0], "b": [0.0, 5.0], "a2": unit_at(0.9), "b2": [0.1, 1.0]}
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return np.array([table[t] for t in texts], dtype=np.float32)

    pairs = PairSet(q1=["a", "b", "a"], q2=["a2", "b2", "a2"], labels=[1, 1, 0])
    curve = evaluate(pairs, embed, thresholds=[0.5, 0.95])
    assert len(calls) == 1
    assert sorted(calls[0]) == ["a", "a2", "b", "b2"]
    assert point(curve, 0.5) == (3, 2)
    expected = curve_from_vectors(
        pairs,
        [table[t] for t in pairs.q1],
        [table[t] for t in pairs.q2],
        thresholds=[0.5, 0.95],
    )
    assert curve == expected


def test_evaluate_rejects_wrong_shape_and_nan():
    pairs = PairSet(q1=["a"], q2=["b"], labels=[1])
    with pytest.raises(InvalidVectorError, match="shape"):
        evaluate(pairs, lambda texts: np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InvalidVectorError, match="NaN"):
        evaluate(pairs, lambda texts: np.full((len(texts), 3), np.nan, dtype=np.float32))
    with pytest.raises(InvalidVectorError, match="zero length"):
        evaluate(pairs, lambda texts: np.zeros((len(texts), 3), dtype=np.float32))


def test_empty_pair_set_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        curve_from_vectors(PairSet([], [], []), np.zeros((0, 2)), np.zeros((0, 2)))


# --- Curve helpers -----------------------------------------------------------------------------------------------


def make_point(threshold: float, precision: float, f1: float) -> ThresholdPoint:
    return ThresholdPoint(
        threshold=threshold, precision=precision, recall=0.5, f1=f1, hit_rate=0.5, hits=10, correct=5
    )


def test_best_f1_picks_max_and_breaks_ties_toward_higher_threshold():
    curve = Curve(
        [
            make_point(0.5, 0.4, 0.5),
            make_point(0.6, 0.6, 0.7),
            make_point(0.7, 0.8, 0.7),
            make_point(0.8, 0.9, 0.4),
        ]
    )
    assert curve.best_f1().threshold == 0.7


def test_for_precision_returns_lowest_threshold_reaching_target():
    # Precision is not monotone: 0.6 reaches 0.8, 0.7 dips, 0.8 is higher again.
    curve = Curve(
        [
            make_point(0.5, 0.5, 0.1),
            make_point(0.6, 0.85, 0.1),
            make_point(0.7, 0.7, 0.1),
            make_point(0.8, 0.95, 0.1),
        ]
    )
    assert curve.for_precision(0.8).threshold == 0.6
    assert curve.for_precision(0.9).threshold == 0.8
    assert curve.for_precision(0.0).threshold == 0.5
    with pytest.raises(ValueError, match=r"precision 0\.99.*0\.9500"):
        curve.for_precision(0.99)


def test_at_finds_measured_threshold_and_rejects_others():
    curve = Curve([make_point(0.5, 0.5, 0.1), make_point(0.805, 0.6, 0.2)])
    assert curve.at(0.805).f1 == 0.2
    assert curve.at(0.5 + 0.305).f1 == 0.2  # float noise in the caller's arithmetic is fine
    with pytest.raises(ValueError, match="not measured"):
        curve.at(0.6)


def test_empty_curve_is_rejected():
    with pytest.raises(ValueError):
        Curve([])


# --- PairSet -----------------------------------------------------------------------------------------------------


def write_lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_from_jsonl_reads_pairs_and_skips_blank_lines(tmp_path):
    good = [
        json.dumps({"q1": "How do I cook rice?", "q2": "How to cook rice?", "label": 1}),
        "",
        json.dumps({"q1": "What is Python?", "q2": "Who is Guido?", "label": 0}),
    ]
    pairs = PairSet.from_jsonl(write_lines(tmp_path, good))
    assert pairs.q1 == ["How do I cook rice?", "What is Python?"]
    assert pairs.q2 == ["How to cook rice?", "Who is Guido?"]
    assert pairs.labels == [1, 0]
    assert len(pairs) == 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "must be a JSON object"),
        ('{"q1": "a", "label": 1}', "missing key.*q2"),
        ('{"q1": "a", "q2": 3, "label": 1}', "q1 and q2 must be strings"),
        ('{"q1": "a", "q2": "b", "label": 2}', "label must be 0 or 1"),
        ('{"q1": "a", "q2": "b", "label": true}', "label must be 0 or 1"),
        ('{"q1": "a", "q2": "b", "label": "1"}', "label must be 0 or 1"),
    ],
)
def test_from_jsonl_bad_line_names_line_number(tmp_path, bad, message):
    good = json.dumps({"q1": "a", "q2": "b", "label": 1})
    path = write_lines(tmp_path, [good, good, bad])
    with pytest.raises(ValueError, match=f"line 3: {message}"):
        PairSet.from_jsonl(path)
    with pytest.raises(InvalidInputError):
        PairSet.from_jsonl(path)


def test_from_jsonl_rejects_invalid_utf8_with_line_number(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(b'{"q1": "a", "q2": "b", "label": 1}\n{"q1": "\xff", "q2": "b", "label": 1}\n')
    with pytest.raises(ValueError, match="line 2: not valid UTF-8"):
        PairSet.from_jsonl(path)


def test_from_jsonl_rejects_empty_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no pairs"):
        PairSet.from_jsonl(path)


def test_pairset_rejects_misaligned_lists_and_bad_labels():
    with pytest.raises(ValueError, match="same length"):
        PairSet(q1=["a"], q2=["b", "c"], labels=[1])
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        PairSet(q1=["a"], q2=["b"], labels=[3])
