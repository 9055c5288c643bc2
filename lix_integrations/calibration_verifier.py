"""Replay labelled pairs through a semantic cache *with a verifier*, and measure every verifier threshold.

The same replay as `lix_integrations.calibration` (every ``q1`` stored in one partition, every ``q2`` looked
up, a hit correct only when it serves the pair's own ``q1`` of a duplicate pair), with the lookup the semantic
tier does when a verifier is on: the ``k`` nearest entries whose cosine reaches ``floor`` are scored by the
verifier, and the best-scored one is served when its score reaches the verifier's threshold. So a curve over
verifier thresholds answers the same questions as the cosine curve (precision, recall, hit rate), and
`calibrate` picks the verifier threshold the way it picks the cosine one.

Pure numpy given the vectors; the verifier is called once per (lookup, candidate) pair, in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .calibration_curves import Calibration, Curve, PairSet, _curve, _stored_entries, _unit_rows
from .errors import InvalidInputError
from .tiers.semantic import DEFAULT_THRESHOLD
from .tiers.verifier import Verifier, VerifierCandidate, resolve_verifier

__all__ = ["VerifiedReplay", "calibrate_verifier", "replay_with_verifier", "score_thresholds"]


@dataclass(frozen=True)
class VerifiedReplay:
    """Per lookup: the best verifier score (``-inf`` without a candidate) and whether that hit would be right."""

    best: npt.NDArray[np.float64]
    right: npt.NDArray[np.bool_]
    positives: int

    def curve(self, thresholds: Sequence[float] | None = None) -> Curve:
        cuts = score_thresholds(self.best) if thresholds is None else sorted({float(t) for t in thresholds})
        if not cuts:
            raise InvalidInputError("thresholds must not be empty")
        return _curve(self.best, self.right, self.positives, cuts)


def score_thresholds(best: npt.NDArray[np.float64]) -> list[float]:
    """0.000, 0.005, ..., 1.000 for probability-like scores; else 201 quantiles of the observed scores."""
    finite = best[np.isfinite(best)]
    if finite.size == 0 or (finite.min() >= 0.0 and finite.max() <= 1.0):
        return [round(0.005 * i, 3) for i in range(201)]
    return sorted({round(float(q), 6) for q in np.quantile(finite, np.linspace(0.0, 1.0, 201))})


def replay_with_verifier(
    pairs: PairSet,
    q1_vectors: npt.ArrayLike,
    q2_vectors: npt.ArrayLike,
    verifier: Verifier,
    *,
    floor: float,
    k: int = 4,
) -> VerifiedReplay:
    """Store every distinct ``q1``, look up every ``q2`` through the cosine floor and the verifier."""
    n = len(pairs)
    if n == 0:
        raise InvalidInputError("cannot calibrate on an empty pair set")
    q1_mat = _unit_rows(q1_vectors, n, "q1_vectors").astype(np.float32)
    q2_mat = _unit_rows(q2_vectors, n, "q2_vectors").astype(np.float32)
    first_row, own = _stored_entries(pairs.q1)
    stored = q1_mat[first_row]
    texts = [pairs.q1[r] for r in first_row]
    labels = np.asarray(pairs.labels, dtype=np.int64)
    best = np.full(n, -np.inf)
    right = np.zeros(n, dtype=bool)
    step = 1024
    for start in range(0, n, step):
        sims = np.clip(q2_mat[start : start + step] @ stored.T, 0.0, 1.0)
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        for offset, row in enumerate(top):
            i = start + offset
            chosen = [int(j) for j in row if sims[offset, j] >= floor]
            if not chosen:
                continue
            candidates = [VerifierCandidate(texts[j], stored[j], float(sims[offset, j])) for j in chosen]
            scores = verifier.score(pairs.q2[i], q2_mat[i], candidates)
            pick = int(np.argmax(scores))
            best[i] = scores[pick]
            right[i] = labels[i] == 1 and chosen[pick] == own[i]
    return VerifiedReplay(best, right, int(labels.sum()))


def calibrate_verifier(
    pairs: PairSet,
    embed: Callable[[list[str]], np.ndarray],
    embedder_name: str,
    verifier: Any,
    floor: float | None,
    target_precision: float,
    thresholds: Sequence[float] | None = None,
) -> Calibration:
    """The lowest verifier threshold whose precision on ``pairs`` reaches ``target_precision`` (see ``calibrate``)."""
    chosen = verifier if isinstance(verifier, Verifier) else resolve_verifier(verifier, embedder_name)
    if chosen is None:
        raise InvalidInputError(
            f"no verifier to calibrate: {verifier!r} resolves to none for {embedder_name}"
        )
    if floor is None:
        floor = chosen.floor if chosen.floor is not None else DEFAULT_THRESHOLD
    index: dict[str, int] = {}
    for text in (*pairs.q1, *pairs.q2):
        index.setdefault(text, len(index))
    vectors = _unit_rows(embed(list(index)), len(index), "embed() result")
    q1 = vectors[[index[t] for t in pairs.q1]]
    q2 = vectors[[index[t] for t in pairs.q2]]
    curve = replay_with_verifier(pairs, q1, q2, chosen, floor=floor).curve(thresholds)
    point = curve.for_precision(target_precision)
    return Calibration(
        threshold=floor,
        point=point,
        curve=curve,
        target_precision=target_precision,
        embedder=embedder_name,
        pairs=len(pairs),
        verifier=chosen.name,
        verifier_threshold=point.threshold,
    )
