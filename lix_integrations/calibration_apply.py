"""Applying a calibration: the threshold `calibrate` chose, put to use.

Three ways, one meaning:

* ``Engine(threshold=result)``: this engine uses it (``result`` is a `Calibration` or a
  number);
* ``engine.semantic.set_threshold(result)``: from now on, in this engine; ``store=True`` also stores it with the
  data;
* ``lix calibrate --apply``: stores it with the data.

A threshold stored with the data is a setting of the namespace, next to the embedder it was measured with, so
every engine that opens the store uses it, unless it was given a threshold explicitly (keyword, config or
``LIX_THRESHOLD``): the explicit choice wins. A calibration measured with another embedder is refused, since
its similarities mean nothing for this one's vectors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import EngineConfig, check_threshold
from .errors import ConfigError
from .kernel.ops import EnsureSettings

if TYPE_CHECKING:
    from .kernel.flows import Flow
    from .tiers.semantic import SemanticTier

__all__ = ["THRESHOLD_FIELDS", "adopt_stored", "store_flow", "threshold_options", "thresholds_of"]

#: The settings fields an applied calibration is stored under (beside ``embedder``, ``dimension`` ...).
THRESHOLD_FIELDS = ("threshold", "verifier_threshold")


def thresholds_of(value: Any, embedder: str | None = None) -> tuple[float, float | None]:
    """``(threshold, verifier_threshold)`` from a `Calibration` or a number.

    With ``embedder`` (the engine's embedder name), a calibration measured with another embedder is refused."""
    from .calibration import Calibration

    if isinstance(value, Calibration):
        if embedder is not None and value.embedder != embedder:
            raise ConfigError(
                f"this calibration was measured with embedder {value.embedder!r}, but the engine embeds with "
                f"{embedder!r}: its threshold means nothing here (calibrate with the engine: calibrate(pairs, "
                "engine=engine))"
            )
        return check_threshold(value.threshold), value.verifier_threshold
    return check_threshold(value), None


def threshold_options(options: dict[str, Any]) -> dict[str, Any]:
    """Engine keyword options with ``threshold=Calibration`` turned into ``threshold`` and
    ``verifier_threshold`` numbers (an explicit ``verifier_threshold=`` wins)."""
    from .calibration import Calibration

    value = options.get("threshold")
    if not isinstance(value, Calibration):
        return options
    threshold, verifier_threshold = thresholds_of(value)
    changed = dict(options, threshold=threshold)
    if changed.get("verifier_threshold") is None:
        changed["verifier_threshold"] = verifier_threshold
    return changed


def apply(tier: SemanticTier, threshold: float, verifier_threshold: float | None) -> None:
    """Make ``tier`` use the thresholds from now on (a copy of a shared verifier gets the verifier one)."""
    from .tiers.verifier import _with_threshold

    if verifier_threshold is not None:
        if tier.verifier is None:
            raise ConfigError(
                "this calibration chose a verifier threshold, but the engine runs no verifier: open it with the "
                "verifier it was calibrated with"
            )
        tier.verifier = _with_threshold(tier.verifier, verifier_threshold)
    tier.threshold = threshold


def adopt_stored(tier: SemanticTier, config: EngineConfig, stored: dict[str, str]) -> None:
    """Use the thresholds stored with the data, unless the engine was given its own."""
    threshold = stored.get("threshold")
    if threshold is not None and config.threshold is None:
        tier.threshold = check_threshold(float(threshold))
    verifier_threshold = stored.get("verifier_threshold")
    if verifier_threshold is not None and config.verifier_threshold is None and tier.verifier is not None:
        from .tiers.verifier import _with_threshold

        tier.verifier = _with_threshold(tier.verifier, float(verifier_threshold))


def store_flow(namespace: str, threshold: float, verifier_threshold: float | None) -> Flow[dict[str, str]]:
    """Store the thresholds with the namespace's settings (replacing earlier ones)."""
    replace = {"threshold": repr(float(threshold))}
    if verifier_threshold is not None:
        replace["verifier_threshold"] = repr(float(verifier_threshold))
    stored: dict[str, str] = yield EnsureSettings(namespace, {}, replace)
    return stored


def set_threshold_flow(core: Any, result: Any, store: bool) -> Flow[float]:
    """What ``engine.semantic.set_threshold`` runs (sync or async): check, apply, then store when asked."""
    threshold, verifier_threshold = thresholds_of(result, core.embedder.name)
    if store:  # a threshold stored with the data is the stored embedder's: refuse another embedder's first
        yield from core.settings.vectors()
    apply(core.semantic, threshold, verifier_threshold)
    if store:
        yield from store_flow(core.config.namespace, threshold, verifier_threshold)
    return threshold
