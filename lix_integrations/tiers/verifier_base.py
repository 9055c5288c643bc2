"""What a verifier is (the interface the semantic tier calls) and the candidate it scores.

Apart from `verifier`, which resolves a verifier by name, so each kind of verifier (the lexical head there,
the cross-encoder in `cross_encoder`) builds on it without the resolver and the kinds importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import ConfigError

__all__ = ["FloatArray", "Verifier", "VerifierCandidate", "check_score_threshold"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VerifierCandidate:
    """One candidate to verify: its stored prompt, vector (when the head needs it) and cosine to the prompt."""

    prompt: str
    vector: FloatArray | None
    similarity: float


class Verifier:
    """What the semantic tier needs of a verifier: a name, a threshold and a batch ``score``.

    ``needs_vectors``: the tier must supply each candidate's vector (embedding its prompt when the store did not
    return it). ``blocking``: scoring may take long enough that the async driver runs it in a worker thread.
    ``floor``: the cosine floor for candidates when the engine's ``threshold`` is left at its default.
    """

    name: str = "verifier"
    threshold: float = 0.5
    floor: float | None = None
    needs_vectors: bool = False
    blocking: bool = True

    def score(
        self, prompt: str, vector: FloatArray | None, candidates: Sequence[VerifierCandidate]
    ) -> list[float]:  # pragma: no cover - interface
        raise NotImplementedError


def check_score_threshold(value: object) -> float:
    """``value`` as a float, or a ConfigError naming it (a bool, NaN or non-number is no threshold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ConfigError(f"verifier_threshold must be a number, got {value!r}")
    return float(value)
