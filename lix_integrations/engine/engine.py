"""``Engine`` (blocking) and ``AsyncEngine`` (awaitable): the public face of one cache configuration.

Both are views over one `EngineCore`. Build either from a URL; reach the other view through
``engine.aio`` or ``async_engine.sync`` when one object must serve both kinds of callers (LangChain's
``lookup`` and ``alookup`` on the same cache). Each tier's operations are written once (see `views`);
the two engine classes differ only in which view of each tier they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypedDict, TypeVar, overload
from urllib.parse import parse_qsl

from ..calibration_apply import threshold_options
from ..config import EngineConfig, ModelPrice, SamplingPolicy
from ..errors import ConfigError
from ..kernel.clock import Clock
from ..tiers.embeddings import EmbeddingConfig
from ..tiers.kv import KvConfig
from ..tiers.sessions import SessionConfig
from ..tiers.tools import ToolsConfig
from .checkpoints_api import AsyncCheckpointsAPI, CheckpointsAPI
from .core import EngineCore
from .documents_api import AsyncDocumentsAPI, DocumentsAPI
from .embeddings_api import AsyncEmbeddingsAPI, EmbeddingsAPI
from .kv_api import AsyncKvAPI, KvAPI
from .node_cache_api import AsyncNodeCacheAPI, NodeCacheAPI
from .semantic_api import AsyncSemanticAPI, SemanticAPI, SemanticEntry
from .sessions_api import AsyncSessionsAPI, SessionsAPI
from .stats import EngineStats
from .tools_api import AsyncToolsAPI, ToolsAPI

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from typing_extensions import Self, Unpack

    from ..calibration import Calibration
    from .resolve import EngineLease

__all__ = [
    "AsyncEngine",
    "AsyncSemanticAPI",
    "Engine",
    "EngineOptions",
    "EngineSpec",
    "SemanticAPI",
    "SemanticEntry",
]


class EngineOptions(TypedDict, total=False):
    """The keyword options of ``Engine(...)`` and ``AsyncEngine(...)``: fields of
    `EngineConfig`, overriding ``config=`` (``None`` leaves a field as it is)."""

    namespace: str | None
    threshold: float | Calibration | None
    ttl: float | None
    idle_ttl: float | None
    max_entries: int | None
    sampling: SamplingPolicy | str | None
    max_prompt_bytes: int | None
    fail_open: bool | None
    shadow: bool | None
    prices: Mapping[str, ModelPrice] | None
    lookup_order: str | None
    verifier: Any
    verifier_threshold: float | None
    kv: KvConfig | None
    tools: ToolsConfig | None
    sessions: SessionConfig | None
    embeddings: EmbeddingConfig | None


def _build_core(
    url: str | None,
    config: EngineConfig | None,
    embedder: Any,
    clock: Clock | None,
    options: dict[str, Any],
) -> EngineCore:
    base = config or EngineConfig()
    resolved = base.with_overrides(url=url, **threshold_options(options))
    if resolved.url is not None:
        # Engine options carried by the URL (``?verifier=off``) apply to any store and are not the backend's:
        # take them out before the backend parses its own options. A keyword given explicitly wins.
        stripped, from_url = split_engine_query(resolved.url)
        if from_url or stripped != resolved.url:
            given = {k: v for k, v in from_url.items() if options.get(k) is None}
            resolved = replace(resolved, url=stripped, **given)
    return EngineCore(resolved, embedder=embedder, clock=clock)


#: Engine options a store URL may carry as query parameters, with their parsers.
_URL_OPTIONS = {"verifier": str, "verifier_threshold": float}


def split_engine_query(url: str) -> tuple[str, dict[str, Any]]:
    """``url`` without its engine options, and those options parsed (``verifier=``, ``verifier_threshold=``).

    The backend's own parameters are kept byte for byte (not re-encoded)."""
    base, sep, query = url.partition("?")
    if not sep:
        return url, {}
    kept: list[str] = []
    found: dict[str, Any] = {}
    for segment in query.split("&"):
        pairs = parse_qsl(segment, keep_blank_values=True)
        parse = _URL_OPTIONS.get(pairs[0][0]) if len(pairs) == 1 else None
        if parse is None:
            kept.append(segment)
            continue
        key, value = pairs[0]
        try:
            found[key] = parse(value)
        except ValueError:
            raise ConfigError(f"URL option {key}={value!r} is not a valid {parse.__name__}") from None
    if not found:
        return url, {}
    return (base + "?" + "&".join(kept) if kept else base), found


@dataclass(frozen=True)
class EngineSpec:
    """What opens an equal engine elsewhere (another process, after unpickling): its configuration with the store
    URL resolved, its embedder and its clock. Picklable when the embedder and clock are; it holds no data and no
    connection. ``Engine(spec=...)`` is spelled ``spec.open()``."""

    config: EngineConfig
    embedder: Any = None
    clock: Clock | None = None

    def open(self) -> Engine:
        return Engine(config=self.config, embedder=self.embedder, clock=self.clock)


B = TypeVar("B")
A = TypeVar("A")


class _TierView(Generic[B, A]):
    """``engine.kv`` and its kind: the tier's blocking view on an `Engine`, its awaitable view on an
    `AsyncEngine`, made on first use and kept."""

    def __init__(self, blocking: Callable[[EngineCore], B], awaiting: Callable[[EngineCore], A]) -> None:
        self._blocking, self._awaiting = blocking, awaiting
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _TierView[B, A]: ...

    @overload
    def __get__(self, obj: Engine, owner: type | None = None) -> B: ...

    @overload
    def __get__(self, obj: AsyncEngine, owner: type | None = None) -> A: ...

    def __get__(self, obj: _EngineBase | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        view = (self._awaiting if isinstance(obj, AsyncEngine) else self._blocking)(obj._core)
        obj.__dict__[self._name] = view
        return view


class _EngineBase:
    _core: EngineCore
    #: Set on the views of an engine an adapter built from a URL (see ``resolve.py``): closing such a view gives
    #: its share back, and the last share closes the engine.
    _lease: EngineLease | None = None
    #: Checked at construction (a blocking engine) or on first use (an awaitable one: a constructor cannot await).
    _check_at_open: ClassVar[bool] = False

    def __init__(
        self,
        url: str | None = None,
        *,
        config: EngineConfig | None = None,
        embedder: Any = None,
        clock: Clock | None = None,
        **options: Unpack[EngineOptions],
    ) -> None:
        core = _build_core(url, config, embedder, clock, dict(options))
        if self._check_at_open:
            # A blocking engine may do blocking I/O now: refuse a mismatched store at open, not at first use.
            core.open_settings()
        self._attach(core)

    def _attach(self, core: EngineCore) -> None:
        self._core = core

    @classmethod
    def _over(cls, core: EngineCore, lease: EngineLease | None = None) -> Any:
        """Another view of an open engine core (``aio``, ``sync``, an adapter's shared engine)."""
        view = cls.__new__(cls)
        view._attach(core)
        view._lease = lease
        return view

    semantic = _TierView(SemanticAPI, AsyncSemanticAPI)
    sessions = _TierView(SessionsAPI, AsyncSessionsAPI)
    kv = _TierView(KvAPI, AsyncKvAPI)
    checkpoints = _TierView(CheckpointsAPI, AsyncCheckpointsAPI)
    tools = _TierView(ToolsAPI, AsyncToolsAPI)
    embeddings = _TierView(EmbeddingsAPI, AsyncEmbeddingsAPI)
    node_cache = _TierView(NodeCacheAPI, AsyncNodeCacheAPI)
    documents = _TierView(DocumentsAPI, AsyncDocumentsAPI)

    @classmethod
    def from_env(cls, prefix: str = "LIX_", **kwargs: Any) -> Self:
        """An engine configured from ``{prefix}URL``, ``{prefix}THRESHOLD`` ... (see ``EngineConfig.from_env``)."""
        return cls(config=EngineConfig.from_env(prefix), **kwargs)

    @property
    def config(self) -> EngineConfig:
        return self._core.config

    @property
    def namespace(self) -> str:
        return self._core.config.namespace

    @property
    def url(self) -> str:
        """The backend URL, password removed."""
        return self._core.backend.url

    def now(self) -> float:
        """The time on this engine's clock (``clock=``, else the system's), the one its entries expire on."""
        return self._core.clock.now()

    def spec(self) -> EngineSpec:
        """How to open an equal engine in another process (what adapters pickle instead of the engine, which
        holds locks and connections). The default store is resolved now, not in the other process. A private
        ``memory://`` store exists only inside this engine and cannot be reopened: `ConfigError`."""
        url = self._core.config.url or self.url
        scheme, _, rest = url.partition("://")
        if scheme.lower() == "memory" and not rest:
            raise ConfigError(
                "an engine on a private memory:// store cannot be pickled or reopened elsewhere: use memory://NAME "
                "within one process, or a sqlite:/// or redis:// URL to share the store between processes"
            )
        core = self._core
        return EngineSpec(core.config.with_overrides(url=url), core.given_embedder, core.clock)

    def stats(self) -> EngineStats:
        """Counters of this process's traffic through this engine (not stored)."""
        return self._core.stats()

    def reset_stats(self) -> None:
        """Start every counter of this engine over (every tier ``stats()`` shows)."""
        self._core.reset_stats()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r}, namespace={self.namespace!r})"


class Engine(_EngineBase):
    """A blocking engine. ``Engine()`` opens the embedded default store (see `default_store_path`).

    ``Engine(url=None, *, config=None, embedder=None, clock=None, **options)``: options (keyword-only, see
    `EngineOptions`) are those of `EngineConfig`; ``embedder`` takes a
    LangChain ``Embeddings``, a callable ``text -> vector`` or an `Embedder`
    (default: all-MiniLM-L6-v2, offline).

    A store written with another embedder is refused at open (`SettingsMismatchError`) when ``embedder`` is
    given. Given none, the engine opens any store: key-value data, sessions, checkpoints, tools and the node
    cache need no embedder and no model is loaded; the semantic tier embeds with the default model, and is
    refused then if the store's entries were written by another (see `stored_settings`).
    """

    _check_at_open = True

    @property
    def aio(self) -> AsyncEngine:
        """The awaitable view of this same engine (same store, counters and settings)."""
        return AsyncEngine._over(self._core, self._lease)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the engine (an adapter's engine built from a URL: give back this adapter's share of it)."""
        if self._lease is not None:
            self._lease.release()
        else:
            self._core.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncEngine(_EngineBase):
    """An awaitable engine; its methods never block the event loop. Same options as `Engine`.

    The stored settings are checked on first use rather than at open (a constructor cannot await): the
    serialization on the first operation, the embedder's settings when it first computes a vector. ``await
    engine.open()`` checks them now, as `Engine` does at open.
    """

    @property
    def sync(self) -> Engine:
        """The blocking view of this same engine."""
        return Engine._over(self._core, self._lease)  # type: ignore[no-any-return]

    async def open(self) -> AsyncEngine:
        """Check the stored settings now rather than on first use (a store that cannot be reached now is
        checked at the first call that reaches it, as with `Engine`)."""
        await self._core.aopen_settings()
        return self

    async def aclose(self) -> None:
        if self._lease is not None:
            await self._lease.arelease()
        else:
            await self._core.aclose()

    async def __aenter__(self) -> AsyncEngine:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
