"""Calibrate a semantic cache's similarity threshold (or its verifier's) for the embedder in use.

`calibrate` picks the embedder and the verifier, then replays labelled pairs the way the cache is used:
the curves themselves are computed in `lix_integrations.calibration_curves` (pure numpy, no model), the
verifier's in `lix_integrations.calibration_verifier`. Both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .calibration_curves import (
    DEFAULT_THRESHOLDS,
    Calibration,
    Curve,
    PairSet,
    ThresholdPoint,
    curve_from_vectors,
    default_thresholds,
    evaluate,
)
from .calibration_verifier import calibrate_verifier
from .embedders import as_embedder
from .errors import InvalidInputError
from .tiers.verifier import Verifier, resolve_verifier

__all__ = [
    "DEFAULT_THRESHOLDS",
    "Calibration",
    "Curve",
    "PairSet",
    "ThresholdPoint",
    "calibrate",
    "curve_from_vectors",
    "default_thresholds",
    "evaluate",
]


def _as_pairs(pairs: PairSet | str | Path | Iterable[Mapping[str, Any]]) -> PairSet:
    if isinstance(pairs, PairSet):
        return pairs
    if isinstance(pairs, (str, Path)):
        return PairSet.from_jsonl(pairs)
    q1: list[str] = []
    q2: list[str] = []
    labels: list[int] = []
    for i, obj in enumerate(pairs):
        if not isinstance(obj, Mapping) or not {"q1", "q2", "label"} <= set(obj):
            raise InvalidInputError(f"pair {i}: must be a mapping with q1, q2 and label")
        q1.append(obj["q1"])
        q2.append(obj["q2"])
        labels.append(obj["label"])
    return PairSet(q1=q1, q2=q2, labels=labels)


def calibrate(
    pairs: PairSet | str | Path | Iterable[Mapping[str, Any]],
    target_precision: float = 0.95,
    *,
    engine: Any = None,
    embedder: Any = None,
    thresholds: Sequence[float] | None = None,
    progress: Callable[[int, int], None] | None = None,
    verifier: Any = None,
    floor: float | None = None,
) -> Calibration:
    """The lowest threshold whose precision on ``pairs`` reaches ``target_precision``, for the embedder in use.

    ``pairs`` is a `PairSet`, a JSONL path (``{"q1", "q2", "label"}`` per line) or an iterable of such
    mappings. The embedder is ``engine``'s (an `Engine`), else ``embedder`` (anything
    `as_embedder` accepts), else the default local model: calibrating with
    a different model than the cache uses gives a threshold that means nothing. With ``engine`` the texts are
    embedded through its embedding tier (as prompts are), so a rerun on the same store reads the vectors back
    instead of computing them again. ``progress(done, total)`` is called while texts are embedded. Raises
    `InvalidInputError` when no threshold reaches the target.

    With a verifier (``verifier``: anything the engine's ``verifier`` option takes, ``"auto"`` and ``"off"``
    included; by default the ``engine``'s own, else none), the lookups go through the cosine ``floor``
    (default: the engine's threshold, else the verifier's calibrated floor) and the verifier, and the answer
    is the verifier threshold (``verifier_threshold``).
    """
    if not _is_fraction(target_precision):
        raise InvalidInputError(f"target_precision must be a number in (0, 1], got {target_precision!r}")
    pair_set = _as_pairs(pairs)
    if engine is not None:
        model = engine._core.embedder
    else:
        model = as_embedder(embedder)

    def embed(texts: list[str]) -> np.ndarray:
        batch = getattr(model, "embed_many", None)
        rows: list[Any] = []
        step = 64
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            if engine is not None:
                rows += list(engine.embeddings.embed(chunk, role="query"))
            else:
                rows += batch(chunk) if callable(batch) else [model.embed(t) for t in chunk]
            if progress is not None:
                progress(min(start + step, len(texts)), len(texts))
        return np.asarray(rows, dtype=np.float64)

    if verifier is None and engine is not None:
        verifier = engine._core.semantic.verifier
    if verifier is not None:
        chosen = verifier if isinstance(verifier, Verifier) else resolve_verifier(verifier, model.name)
        if chosen is not None:
            if floor is None and engine is not None:
                floor = engine.semantic.threshold
            return calibrate_verifier(
                pair_set, embed, model.name, chosen, floor, float(target_precision), thresholds
            )
    curve = evaluate(pair_set, embed, thresholds)
    point = curve.for_precision(float(target_precision))
    return Calibration(
        threshold=point.threshold,
        point=point,
        curve=curve,
        target_precision=float(target_precision),
        embedder=model.name,
        pairs=len(pair_set),
    )


def _is_fraction(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) <= 1.0
