"""Small keyword-only configuration objects, built in code, from a URL or from environment variables.

Every option has one name used three ways: the keyword (``threshold=0.8``), the environment variable
(``LIX_THRESHOLD=0.8``) and the documentation. Invalid values fail here, at start-up, with the option named,
rather than deep inside a lookup.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..redaction import redact_url
from .tiers import (
    CheckpointConfig,
    CoalesceSettings,
    EmbeddingConfig,
    KvConfig,
    SessionConfig,
    positive_int_or_none,
)
from .tools import InvalidationRule, ToolPolicy, ToolsConfig, ToolScope

__all__ = [
    "DEFAULT_DIR_ENV",
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_PROMPT_BYTES",
    "CheckpointConfig",
    "CoalesceSettings",
    "EmbeddingConfig",
    "EngineConfig",
    "InvalidationRule",
    "KvConfig",
    "ModelPrice",
    "SamplingPolicy",
    "SemanticConfig",
    "SessionConfig",
    "ToolPolicy",
    "ToolScope",
    "ToolsConfig",
    "default_store_path",
    "default_store_url",
]

DEFAULT_DIR_ENV = "LIX_CACHE_DIR"
DEFAULT_MAX_ENTRIES = 100_000
DEFAULT_MAX_PROMPT_BYTES = 4 * 1024 * 1024


class SamplingPolicy(str, enum.Enum):
    """What the semantic tier does when the model settings ask for sampled output (temperature > 0 or n > 1).

    ``SERVE`` is what every LangChain cache does (a cached answer is one valid sample); ``EXACT_ONLY`` serves
    only identical prompts; ``BYPASS`` neither reads nor writes, for apps that want fresh samples each time.
    """

    SERVE = "serve"
    EXACT_ONLY = "exact_only"
    BYPASS = "bypass"


@dataclass(frozen=True)
class ModelPrice:
    """What a model costs per million tokens (any currency; statistics report cost saved in the same unit).

    Used only to turn the token counts of served cache hits into an estimated saving: the price table is the
    user's, because prices change and differ by contract.
    """

    input_per_million: float
    output_per_million: float

    def __post_init__(self) -> None:
        for name in ("input_per_million", "output_per_million"):
            value = getattr(self, name)
            if not _is_number(value) or value < 0 or math.isinf(value):
                raise ConfigError(f"ModelPrice.{name} must be a non-negative number, got {value!r}")

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6


def default_store_path() -> Path:
    """``$LIX_CACHE_DIR/cache.db``, else the per-user cache directory (``~/.cache/lix-integrations`` on Linux)."""
    override = os.environ.get(DEFAULT_DIR_ENV)
    if override:
        base = Path(override).expanduser()
    else:
        from platformdirs import user_cache_dir

        base = Path(user_cache_dir("lix-integrations", appauthor=False))
    return base / "cache.db"


def default_store_url() -> str:
    """The embedded default store as a URL; its directory is created on first use."""
    path = default_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(frozen=True, kw_only=True)
class SemanticConfig:
    """What the semantic tier reads of an `EngineConfig` (its options are flat there, for ``Engine(threshold=...)``
    and ``LIX_THRESHOLD``): built by ``EngineConfig.semantic`` from options it has already validated, so it has
    no defaults of its own (the engine's are the only ones)."""

    threshold: float | None
    ttl: float | None
    idle_ttl: float | None
    max_entries: int | None
    sampling: SamplingPolicy
    max_prompt_bytes: int
    near_miss_margin: float
    shadow: bool
    lookup_order: str


#: Options for which ``None`` is a value and not "not given": no expiry (``ttl``, ``idle_ttl``), no bound
#: (``max_entries``), the default or calibrated threshold (``threshold``, ``verifier_threshold``).
NONE_MEANS = frozenset({"ttl", "idle_ttl", "max_entries", "threshold", "verifier_threshold"})


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of one `Engine`.

    ``threshold`` is a cosine similarity in [0, 1]: a semantic hit needs at least this much; 1.0 serves exact
    matches only; ``None`` takes the default calibrated for the default embedder. ``ttl`` and ``idle_ttl`` are
    seconds (``None``: never expire). ``max_entries`` bounds the semantic tier per namespace, evicting the least
    recently used entries. ``fail_open``: when the store fails, a cache lookup is a miss and an update is
    skipped (logged once per outage) instead of an exception reaching the LLM call.
    """

    url: str | None = None
    namespace: str = "default"
    threshold: float | None = None
    ttl: float | None = None
    idle_ttl: float | None = None
    max_entries: int | None = DEFAULT_MAX_ENTRIES
    sampling: SamplingPolicy = SamplingPolicy.SERVE
    max_prompt_bytes: int = DEFAULT_MAX_PROMPT_BYTES
    fail_open: bool = True
    # Semantic tier observability: a miss whose best candidate is within ``near_miss_margin`` under the threshold
    # counts as a near miss; ``shadow`` looks up and records what would have been served, but serves nothing
    # semantic (exact hits are still served); ``prices`` maps a model name (``"*"``: any other) to its price.
    near_miss_margin: float = 0.05
    shadow: bool = False
    shadow_log_size: int = 1000
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    # Order of a semantic lookup's two steps. "exact_first" checks the exact key before embedding, so an exact
    # hit never pays for an embedding (two store round trips for a miss); "embed_first" embeds, then checks the
    # exact key and searches in one round trip; "auto" embeds first only when that is cheaper: the prompt's
    # vector is already in memory, or the embedder has been measured faster than a quarter of a round trip.
    lookup_order: str = "auto"
    # The semantic tier's verifier (tiers/verifier.py): "auto" (the bundled one for the default embedder, else
    # none), "off", a bundled verifier's name, or a callable (prompt, candidate_prompt) -> float. With a verifier,
    # ``threshold`` is the cosine floor for candidates and ``verifier_threshold`` the score a hit needs (``None``:
    # the bundled verifier's calibrated value; 0.5 for a callable).
    verifier: Any = "auto"
    verifier_threshold: float | None = None
    kv: KvConfig = field(default_factory=KvConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    sessions: SessionConfig = field(default_factory=SessionConfig)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    # Miss coalescing (single flight) of the semantic tier: lease time and wait bound, see tiers/coalesce.py.
    coalesce: CoalesceSettings = field(default_factory=CoalesceSettings)

    def __post_init__(self) -> None:
        if self.url is not None and (not isinstance(self.url, str) or not self.url):
            raise ConfigError(f"url must be a non-empty string, got {self.url!r}")
        if not isinstance(self.namespace, str) or not self.namespace or len(self.namespace) > 128:
            raise ConfigError(
                f"namespace must be a non-empty string of at most 128 characters, got {self.namespace!r}"
            )
        if any(ord(c) < 32 for c in self.namespace):
            raise ConfigError("namespace must not contain control characters")
        if self.threshold is not None:
            _check_threshold(self.threshold)
        for name in ("ttl", "idle_ttl"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or not value > 0 or math.isinf(value)):
                raise ConfigError(f"{name} must be a positive number of seconds or None, got {value!r}")
        positive_int_or_none("max_entries", self.max_entries)
        if not isinstance(self.fail_open, bool):
            raise ConfigError(f"fail_open must be True or False, got {self.fail_open!r}")
        if not isinstance(self.max_prompt_bytes, int) or self.max_prompt_bytes < 1:
            raise ConfigError(f"max_prompt_bytes must be a positive integer, got {self.max_prompt_bytes!r}")
        if not _is_number(self.near_miss_margin) or not 0.0 <= self.near_miss_margin <= 1.0:
            raise ConfigError(
                f"near_miss_margin must be a number between 0 and 1, got {self.near_miss_margin!r}"
            )
        if not isinstance(self.shadow, bool):
            raise ConfigError(f"shadow must be True or False, got {self.shadow!r}")
        if (
            isinstance(self.shadow_log_size, bool)
            or not isinstance(self.shadow_log_size, int)
            or self.shadow_log_size < 0
        ):
            raise ConfigError(f"shadow_log_size must be a non-negative integer, got {self.shadow_log_size!r}")
        if not isinstance(self.prices, Mapping) or not all(
            isinstance(k, str) and isinstance(v, ModelPrice) for k, v in self.prices.items()
        ):
            raise ConfigError("prices must map model names (str) to ModelPrice objects")
        if self.lookup_order not in LOOKUP_ORDERS:
            raise ConfigError(
                f"lookup_order must be one of {', '.join(LOOKUP_ORDERS)}, got {self.lookup_order!r}"
            )
        if isinstance(self.verifier, str):
            if not self.verifier:
                raise ConfigError(
                    "verifier must be 'auto', 'off', a bundled verifier's name or a callable, got ''"
                )
        elif not callable(self.verifier) and not callable(getattr(self.verifier, "score", None)):
            raise ConfigError(
                "verifier must be 'auto', 'off', a bundled verifier's name or a callable (prompt, candidate_prompt)"
                f" -> float, got {type(self.verifier).__name__}"
            )
        if self.verifier_threshold is not None and (
            not _is_number(self.verifier_threshold) or not math.isfinite(self.verifier_threshold)
        ):
            raise ConfigError(f"verifier_threshold must be a finite number, got {self.verifier_threshold!r}")
        try:
            object.__setattr__(self, "sampling", SamplingPolicy(self.sampling))
        except ValueError:
            choices = ", ".join(p.value for p in SamplingPolicy)
            raise ConfigError(f"sampling must be one of {choices}, got {self.sampling!r}") from None

    @property
    def semantic(self) -> SemanticConfig:
        """The semantic tier's own settings (the tier receives only these)."""
        return SemanticConfig(**{f.name: getattr(self, f.name) for f in fields(SemanticConfig)})

    def __repr__(self) -> str:
        # The URL may carry a password (``user:pw@`` or ``?password=``): shown redacted, as ``engine.url`` is.
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if f.name == "url" and isinstance(value, str):
                    value = redact_url(value)
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def with_overrides(self, **overrides: Any) -> EngineConfig:
        """A copy with the given options replaced.

        ``None`` replaces an option only where it means something (`NONE_MEANS`: ``max_entries=None`` is
        unbounded, ``ttl=None`` never expires); for the others (``url``, ``namespace`` ...) it means "not given"
        and is ignored, so callers can pass an unset option through."""
        valid = {f.name for f in fields(self)}
        unknown = set(overrides) - valid
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None or k in NONE_MEANS})

    @classmethod
    def from_env(cls, prefix: str = "LIX_", environ: dict[str, str] | None = None) -> EngineConfig:
        """Read ``{prefix}URL``, ``{prefix}NAMESPACE``, ``{prefix}THRESHOLD``, ``{prefix}TTL``, ``{prefix}IDLE_TTL``,
        ``{prefix}MAX_ENTRIES`` (``none`` for unbounded), ``{prefix}SAMPLING``, ``{prefix}MAX_PROMPT_BYTES``,
        ``{prefix}FAIL_OPEN``, ``{prefix}SHADOW``, ``{prefix}NEAR_MISS_MARGIN``, ``{prefix}LOOKUP_ORDER``,
        ``{prefix}VERIFIER`` and ``{prefix}VERIFIER_THRESHOLD``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        parsers: dict[str, Any] = {
            "url": str,
            "namespace": str,
            "threshold": float,
            "ttl": float,
            "idle_ttl": float,
            "max_entries": int,
            "sampling": str,
            "max_prompt_bytes": int,
            "fail_open": _parse_bool,
            "shadow": _parse_bool,
            "near_miss_margin": float,
            "lookup_order": str,
            "verifier": str,
            "verifier_threshold": float,
        }
        for name, parse in parsers.items():
            raw = env.get(f"{prefix}{name.upper()}")
            if raw is None or raw == "":
                continue
            if raw.strip().lower() == "none" and name in NONE_MEANS:
                values[name] = None
                continue
            try:
                values[name] = parse(raw.strip())
            except ValueError:
                raise ConfigError(f"{prefix}{name.upper()}={raw!r} is not a valid {parse.__name__}") from None
        return cls(**values)


LOOKUP_ORDERS = ("auto", "exact_first", "embed_first")


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_parse_bool.__name__ = "boolean"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_threshold(value: object) -> float:
    if not _is_number(value) or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise ConfigError(f"threshold must be a number between 0 and 1 (cosine similarity), got {value!r}")
    return float(value)  # type: ignore[arg-type]


check_threshold = _check_threshold
