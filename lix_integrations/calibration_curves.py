"""Measure how a semantic cache's similarity threshold trades wrong answers against misses.

A semantic cache answers a new prompt with the answer stored for the most similar earlier prompt, if that
similarity reaches a threshold. Too low and it serves answers to *different* questions (a false hit is worse than
a miss: the user gets a confident wrong answer); too high and it never hits. The only honest way to pick the
threshold is to replay labelled pairs exactly the way the cache is used, which is what this module does:

* every ``q1`` of a pair set is stored in ONE cache partition (identical ``q1`` texts are one entry, as the
  exact-key tier would make them);
* every ``q2`` is looked up: the nearest stored ``q1`` by cosine similarity is served;
* it is a HIT when that best similarity is ``>= threshold``, and a hit is CORRECT only when the pair is a
  duplicate (``label == 1``) *and* the served entry is that pair's own ``q1``. Serving another pair's ``q1`` is a
  wrong answer even if the pair itself is a duplicate, because in a real cache that entry holds another answer.

From hits and correct hits per threshold we get ``precision = correct / hits`` (how often a hit is right),
``recall = correct / duplicates`` (how many of the answerable lookups were answered), their F1 and the hit rate.

Scores use the same scale as the cache: the cosine of unit vectors clipped to ``[0, 1]`` (a negative cosine is
as dissimilar as it matters, so it becomes 0).

This module is pure numpy and loads no model (`calibrate`, which picks the
embedder, lives in `lix_integrations.calibration`): `evaluate` takes any ``embed`` callable, and
`curve_from_vectors` takes ready embeddings so tests can hand-build vectors with a known answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import InvalidInputError, InvalidVectorError
from .install import install_hint

# No __all__: lix_integrations.calibration re-exports this module's public names and its __all__ lists them.

# Float rounding must not turn an exact duplicate (cosine 1.0 in exact arithmetic) into a miss at threshold 1.0,
# nor make a similarity that prints as the threshold fall just below it. Far below any meaningful resolution.
_TOLERANCE = 1e-9


def default_thresholds() -> list[float]:
    """Return 0.500, 0.505, ..., 1.000.

    Below 0.5 a sentence-embedding cache serves mostly unrelated answers, so scanning there only adds noise; the
    0.005 step is finer than the differences the dev sets can resolve. Rounded so the values compare equal to
    the literals users type (``curve.at(0.8)``).
    """
    return [round(0.5 + 0.005 * i, 3) for i in range(101)]


DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(default_thresholds())


@dataclass(frozen=True)
class PairSet:
    """Labelled query pairs: ``labels[i] == 1`` when ``q2[i]`` should be answered by the entry for ``q1[i]``."""

    q1: list[str]
    q2: list[str]
    labels: list[int]

    def __post_init__(self) -> None:
        """Reject inconsistent sets at construction, so a measurement never runs on misaligned data."""
        if not (len(self.q1) == len(self.q2) == len(self.labels)):
            raise InvalidInputError(
                f"q1, q2 and labels must have the same length, got {len(self.q1)}, {len(self.q2)}, "
                f"{len(self.labels)}"
            )
        for i, (a, b, label) in enumerate(zip(self.q1, self.q2, self.labels, strict=True)):
            if not isinstance(a, str) or not isinstance(b, str):
                raise InvalidInputError(f"pair {i}: q1 and q2 must be strings")
            if isinstance(label, bool) or label not in (0, 1):
                raise InvalidInputError(f"pair {i}: label must be 0 or 1, got {label!r}")

    def __len__(self) -> int:
        """Number of pairs."""
        return len(self.labels)

    @classmethod
    def from_jsonl(cls, path: str | Path) -> PairSet:
        """Read one ``{"q1": str, "q2": str, "label": 0|1}`` object per line; blank lines are skipped.

        Errors name the 1-based line number, because a dev set with a silently dropped or mis-typed line gives a
        plausible but wrong threshold, and the line number is what one needs to fix the file.
        """
        q1: list[str] = []
        q2: list[str] = []
        labels: list[int] = []
        path = Path(path)
        with path.open("rb") as handle:
            for lineno, raw in enumerate(handle, start=1):
                where = f"{path}, line {lineno}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInputError(f"{where}: not valid UTF-8 ({exc.reason})") from exc
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from exc
                if not isinstance(obj, dict):
                    raise InvalidInputError(f"{where}: must be a JSON object")
                missing = [key for key in ("q1", "q2", "label") if key not in obj]
                if missing:
                    raise InvalidInputError(f"{where}: missing key(s) {', '.join(missing)}")
                a, b, label = obj["q1"], obj["q2"], obj["label"]
                if not isinstance(a, str) or not isinstance(b, str):
                    raise InvalidInputError(f"{where}: q1 and q2 must be strings")
                if isinstance(label, bool) or not isinstance(label, int) or label not in (0, 1):
                    raise InvalidInputError(f"{where}: label must be 0 or 1, got {label!r}")
                q1.append(a)
                q2.append(b)
                labels.append(label)
        if not labels:
            raise InvalidInputError(f"{path}: no pairs found")
        return cls(q1=q1, q2=q2, labels=labels)


@dataclass(frozen=True)
class ThresholdPoint:
    """Cache quality at one threshold.

    ``precision`` is 0.0 when there are no hits: a threshold that never serves anything gives no evidence of
    being right, and counting it as perfectly precise would make `Curve.for_precision` pick a useless cache.
    """

    threshold: float
    precision: float
    recall: float
    f1: float
    hit_rate: float
    hits: int
    correct: int


@dataclass(frozen=True)
class Curve:
    """Threshold points in ascending threshold order."""

    points: list[ThresholdPoint]

    def __post_init__(self) -> None:
        """An empty curve has no answer to any question below, so refuse it up front."""
        if not self.points:
            raise InvalidInputError("a Curve needs at least one point")

    def best_f1(self) -> ThresholdPoint:
        """The point with the highest F1; on a tie the higher threshold, since it errs toward fewer false hits."""
        return max(self.points, key=lambda p: (p.f1, p.threshold))

    def at(self, threshold: float) -> ThresholdPoint:
        """The point measured at ``threshold``.

        Raises instead of interpolating or snapping to the nearest point, so a reported number is always one
        that was actually measured.
        """
        for point in self.points:
            if math.isclose(point.threshold, threshold, rel_tol=0.0, abs_tol=1e-6):
                return point
        lo, hi = self.points[0].threshold, self.points[-1].threshold
        raise InvalidInputError(
            f"threshold {threshold} was not measured ({len(self.points)} thresholds from {lo} to {hi})"
        )

    def for_precision(self, target: float) -> ThresholdPoint:
        """The lowest threshold whose precision is ``>= target``: the most recall one can keep at that precision.

        Precision is not monotone in the threshold on real data, so this scans rather than bisects.
        """
        for point in self.points:
            if point.precision >= target:
                return point
        best = max(p.precision for p in self.points)
        raise InvalidInputError(
            f"no measured threshold reaches precision {target}; the highest precision on this curve is {best:.4f}"
        )


FloatMatrix = npt.NDArray[np.float64]


def _stored_entries(q1_texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The entries a replay stores, one per distinct ``q1`` text in first-seen (insertion) order: the row of each
    entry's first pair, and for every pair the entry that is its own (what a right hit must serve)."""
    entry_of_text: dict[str, int] = {}
    first_row: list[int] = []
    for row, text in enumerate(q1_texts):
        if text not in entry_of_text:
            entry_of_text[text] = len(first_row)
            first_row.append(row)
    own = np.fromiter((entry_of_text[text] for text in q1_texts), dtype=np.int64, count=len(q1_texts))
    return np.asarray(first_row, dtype=np.int64), own


def _unit_rows(vectors: npt.ArrayLike, rows: int, what: str) -> FloatMatrix:
    """Validate a (rows, dim) matrix and L2-normalize each row in float64.

    The cache stores unit vectors so that a dot product is the cosine; embedders do not always normalize, so we
    do it here. float64 keeps exact duplicates at cosine 1 up to rounding far below the threshold step.
    """
    try:
        mat = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVectorError(f"{what}: not a numeric matrix: {exc}") from exc
    if mat.ndim != 2 or mat.shape[0] != rows or mat.shape[1] == 0:
        raise InvalidVectorError(f"{what}: expected shape ({rows}, dim), got {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise InvalidVectorError(f"{what}: contains NaN or infinite values")
    norms = np.linalg.norm(mat, axis=1)
    if np.any(norms == 0.0):
        bad = int(np.flatnonzero(norms == 0.0)[0])
        raise InvalidVectorError(f"{what}: row {bad} has zero length and no direction")
    result: FloatMatrix = mat / norms[:, None]
    return result


def _check_thresholds(thresholds: Sequence[float] | None) -> list[float]:
    """Sorted, de-duplicated thresholds, so curve points are always in ascending order."""
    if thresholds is None:
        return list(DEFAULT_THRESHOLDS)
    values = sorted({float(t) for t in thresholds})
    if not values:
        raise InvalidInputError("thresholds must not be empty")
    if any(not math.isfinite(t) for t in values):
        raise InvalidInputError("thresholds must be finite numbers")
    return values


def curve_from_vectors(
    pairs: PairSet,
    q1_vectors: npt.ArrayLike,
    q2_vectors: npt.ArrayLike,
    thresholds: Sequence[float] | None = None,
) -> Curve:
    """Replay ``pairs`` through a one-partition cache given their embeddings, and measure every threshold.

    ``q1_vectors[i]`` / ``q2_vectors[i]`` embed ``pairs.q1[i]`` / ``pairs.q2[i]`` (any length; rows are
    normalized here). Identical ``q1`` texts become one stored entry (the first row seen for that text), as in
    the cache. Each ``q2`` is served its nearest entry; on equal similarity the earliest stored entry wins, which
    is deterministic and matches insertion order.

    This is the pure part of `evaluate`, separate so tests can use hand-made vectors with a known answer.
    """
    n = len(pairs)
    if n == 0:
        raise InvalidInputError("cannot calibrate on an empty pair set")
    cuts = _check_thresholds(thresholds)
    q1_mat = _unit_rows(q1_vectors, n, "q1_vectors")
    q2_mat = _unit_rows(q2_vectors, n, "q2_vectors")
    if q1_mat.shape[1] != q2_mat.shape[1]:
        raise InvalidVectorError(
            f"q1 and q2 embeddings have different dimensions ({q1_mat.shape[1]} and {q2_mat.shape[1]})"
        )

    first_row, own_entry = _stored_entries(pairs.q1)
    stored = q1_mat[first_row]

    # One matrix product: every lookup against every stored entry.
    sims = np.clip(q2_mat @ stored.T, 0.0, 1.0)
    served = np.argmax(sims, axis=1)
    best = sims[np.arange(n), served]
    labels = np.asarray(pairs.labels, dtype=np.int64)
    right = (labels == 1) & (served == own_entry)

    return _curve(best, right, int(labels.sum()), cuts)


def _curve(best: FloatMatrix, right: npt.NDArray[np.bool_], positives: int, cuts: list[float]) -> Curve:
    """Count hits and correct hits at every threshold with two sorted arrays and binary search (O(n log n))."""
    n = best.shape[0]
    all_sorted = np.sort(best)
    right_sorted = np.sort(best[right])
    lowered = np.asarray(cuts, dtype=np.float64) - _TOLERANCE
    hits_at = n - np.searchsorted(all_sorted, lowered, side="left")
    correct_at = right_sorted.shape[0] - np.searchsorted(right_sorted, lowered, side="left")

    points: list[ThresholdPoint] = []
    for threshold, hits_raw, correct_raw in zip(cuts, hits_at.tolist(), correct_at.tolist(), strict=True):
        hits, correct = int(hits_raw), int(correct_raw)
        precision = correct / hits if hits else 0.0
        recall = correct / positives if positives else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        points.append(
            ThresholdPoint(
                threshold=threshold,
                precision=precision,
                recall=recall,
                f1=f1,
                hit_rate=hits / n,
                hits=hits,
                correct=correct,
            )
        )
    return Curve(points=points)


def evaluate(
    pairs: PairSet,
    embed: Callable[[list[str]], np.ndarray],
    thresholds: Sequence[float] | None = None,
) -> Curve:
    """Embed ``pairs`` with ``embed`` and measure the cache at each threshold (default 0.50 to 1.00 by 0.005).

    ``embed`` receives a list of texts and returns an ``(n, dim)`` array; it need not normalize. Each distinct
    text (across q1 and q2) is embedded exactly once, because embedding dominates the cost and dev sets repeat
    questions.
    """
    if len(pairs) == 0:
        raise InvalidInputError("cannot calibrate on an empty pair set")
    index: dict[str, int] = {}
    for text in (*pairs.q1, *pairs.q2):
        index.setdefault(text, len(index))
    texts = list(index)
    vectors = _unit_rows(embed(texts), len(texts), "embed() result")
    q1_rows = np.fromiter((index[t] for t in pairs.q1), dtype=np.int64, count=len(pairs))
    q2_rows = np.fromiter((index[t] for t in pairs.q2), dtype=np.int64, count=len(pairs))
    return curve_from_vectors(pairs, vectors[q1_rows], vectors[q2_rows], thresholds)


@dataclass(frozen=True)
class Calibration:
    """The answer of `calibrate`: the threshold to configure, what it measured, and the whole curve."""

    threshold: float
    point: ThresholdPoint
    curve: Curve
    target_precision: float
    embedder: str
    pairs: int
    #: With a verifier: its name and the chosen verifier threshold; ``threshold`` is then the cosine floor and
    #: the curve runs over verifier scores.
    verifier: str | None = None
    verifier_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "threshold": self.threshold,
            "verifier": self.verifier,
            "verifier_threshold": self.verifier_threshold,
            "target_precision": self.target_precision,
            "embedder": self.embedder,
            "pairs": self.pairs,
            "point": asdict(self.point),
            "curve": [asdict(p) for p in self.curve.points],
        }

    def plot(self, path: str | Path | None = None) -> Any:
        """Precision, recall and hit rate against the threshold, the chosen one marked; returns the figure.

        Needs matplotlib (the ``plot`` extra: ``pip install '.[plot]'`` from the repository); with ``path`` the figure is also saved
        there (the format follows the suffix). Uses the non-interactive backend when nothing else is selected,
        so it works on servers.
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(f"plotting needs matplotlib: {install_hint('plot')}") from exc
        xs = [p.threshold for p in self.curve.points]
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(xs, [p.precision for p in self.curve.points], label="precision")
        ax.plot(xs, [p.recall for p in self.curve.points], label="recall")
        ax.plot(xs, [p.hit_rate for p in self.curve.points], label="hit rate")
        chosen = self.threshold if self.verifier_threshold is None else self.verifier_threshold
        ax.axvline(chosen, color="grey", linestyle="--", label=f"threshold {chosen:.3f}")
        ax.axhline(self.target_precision, color="grey", linestyle=":", linewidth=0.8)
        ax.set_xlabel("similarity threshold" if self.verifier is None else f"{self.verifier} score threshold")
        ax.set_ylim(0.0, 1.02)
        ax.set_title(f"{self.embedder}: {self.pairs} pairs, target precision {self.target_precision}")
        ax.legend(loc="lower left")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig
