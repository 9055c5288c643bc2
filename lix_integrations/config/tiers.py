"""Configuration of the key-value, embedding, session and checkpoint tiers and of miss coalescing.

They live here, below the tiers, so `EngineConfig` can hold them without importing
a tier (each tier module re-exports its own). Each tier receives only its own object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = [
    "DEFAULT_TABLE",
    "SESSION_CODECS",
    "CheckpointConfig",
    "CoalesceSettings",
    "EmbeddingConfig",
    "KvConfig",
    "SessionConfig",
    "check_ttl",
    "positive_int_or_none",
]

#: The KV table the embedding tier stores vectors in unless configured otherwise.
DEFAULT_TABLE = "embeddings"
#: Archive codecs a session configuration may name (the session tier maps each to its codec).
SESSION_CODECS = ("zstd-dict", "zstd", "zlib", "raw")


def positive_int_or_none(name: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a positive integer or None, got {value!r}")


def check_ttl(value: object, error: type[Exception]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise error(f"ttl must be a positive number of seconds or None, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class KvConfig:
    """Settings of the key-value tier.

    ``ttl`` (seconds, ``None``: never) expires records written through the tier; framework stores such as a
    docstore expect records to stay, so the default is no expiry. ``max_value_bytes`` refuses a single value
    larger than this (encoded), before anything is written.
    """

    ttl: float | None = None
    max_value_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        ttl = self.ttl
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl)
        ):
            raise ConfigError(f"kv ttl must be a positive number of seconds or None, got {ttl!r}")
        size = self.max_value_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"kv max_value_bytes must be a positive integer, got {size!r}")


@dataclass(frozen=True, kw_only=True)
class CoalesceSettings:
    """``lease_ttl``: seconds a cross-process lease lives unless released. ``timeout``: longest wait for a
    leader (``None``: the mean time leaders took plus 30 s)."""

    lease_ttl: float = 20.0
    timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("lease_ttl", "timeout"):
            value = getattr(self, name)
            if value is None and name == "timeout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class EmbeddingConfig:
    """Settings of the embedding tier.

    ``ttl`` (seconds, default ``None``: never expire) applies to every vector stored without its own ``ttl``.
    ``max_entries`` / ``max_bytes`` bound the *stored* tier, evicting least-recently-used vectors; the bound is
    checked every ``evict_every`` stored vectors rather than on every write, because measuring a table's size
    is a scan on SQLite. Eviction removes the least recently *written* vectors unless ``lru_store`` is set, which
    also records every read from the store (least recently used): on SQLite that write costs about 27 us per
    vector read (0.27 s for 10,000, measured), more than the read itself, and it is only paid when the front
    misses, so recency would mostly say which process loaded a vector last. ``front_entries`` /
    ``front_bytes`` bound the in-process LRU front (``0`` entries disables it). ``table`` is the KV table.
    """

    ttl: float | None = None
    max_entries: int | None = 1_000_000
    max_bytes: int | None = None
    evict_every: int = 256
    front_entries: int = 100_000
    front_bytes: int | None = 256 * 1024 * 1024
    lru_store: bool = False
    table: str = DEFAULT_TABLE

    def __post_init__(self) -> None:
        check_ttl(self.ttl, ConfigError)
        positive_int_or_none("max_entries", self.max_entries)
        positive_int_or_none("max_bytes", self.max_bytes)
        positive_int_or_none("front_bytes", self.front_bytes)
        positive_int_or_none("evict_every", self.evict_every)
        if (
            isinstance(self.front_entries, bool)
            or not isinstance(self.front_entries, int)
            or self.front_entries < 0
        ):
            raise ConfigError(f"front_entries must be a non-negative integer, got {self.front_entries!r}")
        if not isinstance(self.lru_store, bool):
            raise ConfigError(f"lru_store must be True or False, got {self.lru_store!r}")
        if not isinstance(self.table, str) or not self.table:
            raise ConfigError(f"table must be a non-empty string, got {self.table!r}")


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """Settings of the session tier.

    ``hot_window``: messages ``get_context()`` returns and the store keeps. ``archive_batch``: overflow is archived
    in frames of this many messages (the store holds up to ``hot_window + archive_batch - 1``), because a frame
    compresses better and costs one fsync however many messages it holds. ``idle_after`` (seconds): sessions
    untouched this long move wholly to the archive on ``migrate_idle()`` (``None``: never). ``retention_days``:
    sessions untouched this long are deleted by ``cleanup_expired()`` (``None``: keep forever). ``archive_dir``:
    where archives go (default: next to a SQLite store's file, e.g. ``cache.db.sessions/``; a temporary
    directory for ``memory://`` stores). ``codec``: ``"zstd-dict"`` (default), ``"zstd"``, ``"zlib"`` or ``"raw"``.
    ``cache_messages``: messages of recently used sessions this process keeps decoded, checked against the
    store's version stamp on every read (see `session_cache`; about 2 KB each with a framework's objects;
    0 turns the cache off). Stores without version stamps (memory, SQLite) never use it.
    """

    hot_window: int = 20
    archive_batch: int = 20
    idle_after: float | None = 7200.0
    retention_days: float | None = 30.0
    archive_dir: str | None = None
    codec: str = "zstd-dict"
    max_message_bytes: int = 4 * 1024 * 1024
    cache_messages: int = 25_000

    def __post_init__(self) -> None:
        for name in ("hot_window", "archive_batch", "max_message_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"sessions.{name} must be a positive integer, got {value!r}")
        for name in ("idle_after", "retention_days"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value > 0
                or math.isinf(value)
            ):
                raise ConfigError(f"sessions.{name} must be a positive number or None, got {value!r}")
        if (
            isinstance(self.cache_messages, bool)
            or not isinstance(self.cache_messages, int)
            or self.cache_messages < 0
        ):
            raise ConfigError(
                f"sessions.cache_messages must be a non-negative integer, got {self.cache_messages!r}"
            )
        if self.archive_dir is not None and (not isinstance(self.archive_dir, str) or not self.archive_dir):
            raise ConfigError(
                f"sessions.archive_dir must be a non-empty path string, got {self.archive_dir!r}"
            )
        if self.codec not in SESSION_CODECS:
            raise ConfigError(
                f"sessions.codec must be one of {', '.join(SESSION_CODECS)}, got {self.codec!r}"
            )


def _seconds(name: str, value: object, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isinf(value):
        raise ConfigError(f"checkpoints {name} must be a non-negative number of seconds, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class CheckpointConfig:
    """Retention of checkpointed threads.

    ``ttl`` (seconds, ``None``: keep): a thread expires this long after its last put; ``refresh_on_read`` also
    counts reads as activity. ``keep_last``: newest checkpoints kept per thread namespace (``None``: all).
    ``tombstone_grace`` (seconds): how long a deleted thread refuses late writes; ``0`` disables tombstones.
    ``hot_window``: newest checkpoints per thread namespace kept as plain records (50: about 12 turns of a
    ``create_agent`` conversation); older ones move into the thread's compressed archive once there are twice
    as many (``None``: never). Reads see no difference but the cost of a decompression for archived ones.
    """

    ttl: float | None = None
    refresh_on_read: bool = False
    keep_last: int | None = None
    tombstone_grace: float = 600.0
    hot_window: int | None = 50

    def __post_init__(self) -> None:
        _seconds("ttl", self.ttl, allow_none=True)
        if self.ttl is not None and self.ttl <= 0:
            raise ConfigError(f"checkpoints ttl must be positive or None, got {self.ttl!r}")
        _seconds("tombstone_grace", self.tombstone_grace, allow_none=False)
        for name in ("keep_last", "hot_window"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"checkpoints {name} must be a positive integer or None, got {value!r}")
        if not isinstance(self.refresh_on_read, bool):
            raise ConfigError(f"checkpoints refresh_on_read must be a bool, got {self.refresh_on_read!r}")
