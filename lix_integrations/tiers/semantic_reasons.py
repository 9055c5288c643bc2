"""Why `SemanticTier.explain` says each candidate would be served or not: pure, given what the lookup would see
(the exact match, the nearest records, the sampling policy, the threshold and the verifier's scores)."""

from __future__ import annotations

from collections.abc import Callable

from ..config import SamplingPolicy
from ..kernel.ops import SemanticRecord
from .semantic_entries import Candidate
from .verifier import Verifier

__all__ = ["explain_candidates"]


def explain_candidates(
    found: list[tuple[SemanticRecord, float]],
    exact: SemanticRecord | None,
    policy: SamplingPolicy,
    limit: float,
    verifier: Verifier | None,
    verified: dict[int, float],
    live: Callable[[SemanticRecord], bool],
    verified_at_most: int,
) -> list[Candidate]:
    """Each of ``found`` (nearest first) as a `Candidate` with its score, whether it is served and why."""
    best_id = max(verified, key=lambda i: verified[i]) if verified else None
    candidates: list[Candidate] = []
    decided = policy is SamplingPolicy.BYPASS
    for rec, similarity in found:
        score = 1.0 if exact is not None and rec.id == exact.id else max(0.0, min(1.0, similarity))
        served = False
        if policy is SamplingPolicy.BYPASS:
            reason = "sampling policy 'bypass': the cache is not consulted for sampled output"
        elif not live(rec):
            reason = "expired"
        elif decided:
            reason = "a better candidate decides"
        elif exact is not None and rec.id == exact.id:
            served, decided, reason = True, True, "exact match of the normalized prompt"
        elif policy is SamplingPolicy.EXACT_ONLY:
            decided, reason = True, "sampling policy 'exact_only': only exact matches are served"
        elif limit >= 1.0:
            decided, reason = True, "threshold 1.0: only exact matches are served"
        elif verifier is not None and score >= limit:
            reason = _verifier_reason(
                verifier, verified.get(rec.id), score, limit, rec.id == best_id, verified_at_most
            )
            served = rec.id == best_id and verified[rec.id] >= verifier.threshold
        elif score >= limit:
            served, decided, reason = True, True, f"similarity {score:.4f} >= threshold {limit:.4f}"
        else:
            decided, reason = True, f"similarity {score:.4f} < threshold {limit:.4f}"
        candidates.append(
            Candidate(
                rec.prompt,
                score,
                served,
                reason,
                rec.id,
                rec.created_at,
                rec.expires_at,
                verified.get(rec.id),
            )
        )
    return candidates


def _verifier_reason(
    verifier: Verifier,
    value: float | None,
    similarity: float,
    floor: float,
    best: bool,
    verified_at_most: int,
) -> str:
    """Why ``explain`` says a candidate above the cosine floor is served or not, in the verifier's terms."""
    near = f"similarity {similarity:.4f} >= floor {floor:.4f}"
    if value is None:
        return f"{near}; not verified (beyond the {verified_at_most} nearest, or the verifier failed)"
    verdict = f"verifier {verifier.name} score {value:.4f}"
    if value < verifier.threshold:
        return f"{near}; {verdict} < threshold {verifier.threshold:.4f}: rejected"
    if not best:
        return (
            f"{near}; {verdict} >= threshold {verifier.threshold:.4f}, but a better-scored candidate decides"
        )
    return f"{near}; {verdict} >= threshold {verifier.threshold:.4f}"
