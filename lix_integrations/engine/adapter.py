"""What the framework adapters share, on the facade side: the engine accessors every adapter offers, the calls an
embedding adapter makes into the embedding tier, and how a tool adapter checks its options.

Each adapter was writing these again (``engine``, ``stats()``, the four ``embed`` calls, the tool options); they
live here once so that an adapter is only its framework's translation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ..config import ToolPolicy
from ..errors import ConfigError
from ..kernel.scope import validate_scope
from .engine import AsyncEngine, Engine
from .resolve import resolve_engines
from .stats import EngineStats

if TYPE_CHECKING:
    from ..tiers.embeddings import EmbeddingModel, EmbeddingStats

__all__ = ["CachedVectors", "EngineBacked", "jsonable", "tool_engines"]


class EngineBacked:
    """``engine`` and ``stats()`` of an adapter, read from the ``_engine`` it got from `resolve_engines` (a pydantic
    adapter declares ``_engine`` as a private attribute)."""

    if TYPE_CHECKING:
        _engine: Engine

    @property
    def engine(self) -> Engine:
        """The engine behind this adapter, to share with other adapters (``.aio`` gives its awaitable view)."""
        return self._engine

    def stats(self) -> EngineStats:
        """The engine's counters (shared with every adapter on the same engine)."""
        return self._engine.stats()


Role = Literal["document", "query"]


class CachedVectors(EngineBacked):
    """An embedding adapter's calls into the embedding tier: the wrapped model as ``_documents`` and ``_queries``
    (one identity, two roles), this adapter's ``space`` and ``_ttl``."""

    if TYPE_CHECKING:
        _aengine: AsyncEngine
        _documents: EmbeddingModel
        _queries: EmbeddingModel
        _ttl: float | None

        @property
        def space(self) -> str: ...

    def _model(self, role: Role) -> EmbeddingModel:
        return self._queries if role == "query" else self._documents

    def _vectors(self, texts: list[str], role: Role) -> list[list[float]]:
        """Vectors in input order; only texts cached neither in memory nor in the store are computed."""
        matrix = self._engine.embeddings.embed(
            texts, model=self._model(role), role=role, space=self.space, ttl=self._ttl
        )
        return matrix.tolist()  # type: ignore[no-any-return]

    async def _avectors(self, texts: list[str], role: Role) -> list[list[float]]:
        matrix = await self._aengine.embeddings.embed(
            texts, model=self._model(role), role=role, space=self.space, ttl=self._ttl
        )
        return matrix.tolist()  # type: ignore[no-any-return]

    def _check_options(self) -> None:
        """Validate space and ttl when the adapter is built rather than on its first call."""
        self._engine.embeddings.embed([], model=self._documents, space=self.space, ttl=self._ttl)

    def _clear_vectors(self) -> int:
        return self._engine.embeddings.clear(model=self._documents, space=self.space)

    def embedding_stats(self) -> EmbeddingStats:
        """The engine's embedding counters (shared with every adapter on the same engine)."""
        return self._engine.embeddings.stats()


def tool_engines(
    name: str,
    engine: Engine | AsyncEngine | str | None,
    options: dict[str, Any],
    *,
    policy: ToolPolicy | None,
    scope: str | None,
    exclude: Sequence[str],
) -> tuple[Engine, AsyncEngine, dict[str, Any]]:
    """A tool adapter's engines and the options each of its calls passes to ``engine.tools`` (``policy``,
    ``scope``, ``exclude``), checked; logs once when no policy will ever cache tool ``name`` (see
    ``ToolsAPI.check_wrapped``)."""
    if policy is not None and not isinstance(policy, ToolPolicy):
        raise ConfigError(f"policy must be a ToolPolicy or None, got {policy!r}")
    sync, aio = resolve_engines(engine, options)
    sync.tools.check_wrapped(name, policy)
    calls = {
        "policy": policy,
        "scope": None if scope is None else validate_scope(scope),
        "exclude": tuple(exclude),
    }
    return sync, aio, calls


def jsonable(value: Any) -> Any:
    """Validated arguments may hold pydantic models (nested schemas); a tool's key is their JSON form."""
    if not isinstance(value, type) and callable(getattr(value, "model_dump", None)):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
