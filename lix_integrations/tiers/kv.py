"""The key-value tier: framework key-value stores (LlamaIndex ``BaseKVStore``) as named collections of JSON dicts.

A collection maps onto the KV operations' ``table`` as ``"kv:" + collection``. The table is a separate dimension of
every KV record (``(namespace, table, key)``), never concatenated with the key, so two collections can never see
each other's keys whatever characters their names hold (``docstore/data``, ``a:b``, ``a/b/c`` ...), and this tier's
tables cannot meet the embedding or tool tiers' tables, which use other prefixes.

Values are JSON objects encoded as UTF-8 bytes and decoded with `json` only: a store is data, never code, so
nothing read back is unpickled. A stored value that is not a JSON object raises `SerializationError` rather
than being returned as something a docstore would misread.

Keys of any length work: LlamaIndex keys its embedding cache by raw chunk text, so a key can be a whole document.
A key of up to `DIRECT_KEY_CHARS` characters is the stored key itself. A longer one is stored under its first
``DIRECT_KEY_CHARS`` characters plus ``#`` and the SHA-256 of the whole key (so no shorter key can equal it, and
the backends' key sizes stay bounded), and its record holds the full key next to the value: a read checks it,
so even a digest collision could not return another key's value, and ``get_all``/``keys`` give the full key back.

Unlike the caches, this tier does not fail open: a document store that silently dropped writes would lose data,
so store failures reach the caller as `BackendError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config.tiers import KvConfig
from ..errors import ConfigError, InvalidIdError, InvalidInputError, SerializationError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet, Snapshot
from ..kernel.flows import Flow
from ..kernel.ops import KvDelete, KvDeleteWhere, KvGet, KvItem, KvPut, KvScan
from .tier import Tier

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DIRECT_KEY_CHARS",
    "MAX_COLLECTION_CHARS",
    "TABLE_PREFIX",
    "KvConfig",
    "KvStats",
    "KvTier",
    "decode_record",
    "decode_value",
    "encode_record",
    "encode_value",
    "storage_key",
    "table_for",
    "validate_collection",
    "validate_key",
]

#: Prefix of every table this tier writes; other tiers use other prefixes.
TABLE_PREFIX = "kv:"
MAX_COLLECTION_CHARS = 512
#: Keys up to this many characters are stored as they are; longer ones under a digest (see the module docstring).
DIRECT_KEY_CHARS = 4096
#: Records per write round trip when the caller does not say (LlamaIndex passes its own ``batch_size``).
DEFAULT_BATCH_SIZE = 100
#: ``get_all`` reads a collection in pages of this many records, so one round trip stays bounded.
SCAN_PAGE = 1000


@dataclass(frozen=True)
class KvStats(Snapshot):
    """A snapshot of the key-value tier's counters (this process only)."""

    gets: int
    hits: int
    misses: int
    puts: int
    put_batches: int
    deletes: int
    scans: int


# -- pure helpers ---------------------------------------------------------------------------------------------


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no backend can store them faithfully
        return False
    return True


def validate_collection(collection: object) -> str:
    """A collection name: any non-empty UTF-8 string (``/`` and ``:`` included) of bounded length."""
    if not isinstance(collection, str) or not collection:
        raise InvalidIdError(f"collection must be a non-empty string, got {collection!r}")
    if len(collection) > MAX_COLLECTION_CHARS or not _encodable(collection) or "\x00" in collection:
        raise InvalidIdError(
            f"collection {collection[:80]!r} is longer than {MAX_COLLECTION_CHARS} characters or contains "
            "a NUL character or a lone surrogate"
        )
    return collection


def validate_key(key: object) -> str:
    """A record key: any UTF-8 string (empty included, as ``SimpleKVStore`` allows), of any length."""
    if not isinstance(key, str):
        raise InvalidIdError(f"key must be a string, got {type(key).__name__}")
    if not _encodable(key) or "\x00" in key:
        raise InvalidIdError(f"key {key[:80]!r} contains a NUL character or a lone surrogate")
    return key


def storage_key(key: str) -> str:
    """The key a record is stored under: the key itself, or for a long key its head plus its digest."""
    if len(key) <= DIRECT_KEY_CHARS:
        return key
    return key[:DIRECT_KEY_CHARS] + "#" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _is_digest(stored: str) -> bool:
    return len(stored) > DIRECT_KEY_CHARS


def encode_record(key: str, value: object, max_bytes: int) -> bytes:
    """What is stored for ``key``: the value's JSON, or for a long key ``{"key": key, "value": value}``."""
    if len(key) <= DIRECT_KEY_CHARS:
        return encode_value(key, value, max_bytes)
    shown = key[:80] + "…"
    if not isinstance(value, dict):
        raise InvalidInputError(f"value for key {shown!r} must be a dict, got {type(value).__name__}")
    return encode_value(shown, {"key": key, "value": value}, max_bytes)


def decode_record(collection: str, stored: str, raw: bytes) -> tuple[str, dict[str, Any]]:
    """``(key, value)`` of a stored record; a long key's record must carry its full key."""
    value = decode_value(collection, stored[:80], raw)
    if not _is_digest(stored):
        return stored, value
    key, inner = value.get("key"), value.get("value")
    if not isinstance(key, str) or not isinstance(inner, dict) or storage_key(key) != stored:
        raise SerializationError(
            f"record {stored[:80]!r}… of collection {collection!r} does not hold the full key it is stored under"
        )
    return key, inner


def table_for(collection: str) -> str:
    """The KV table holding a collection (validated)."""
    return TABLE_PREFIX + validate_collection(collection)


def encode_value(key: str, value: object, max_bytes: int) -> bytes:
    """A dict as compact UTF-8 JSON; anything else, or anything JSON cannot hold, is refused naming the key.

    NaN and infinities are refused too (``allow_nan=False``, as the session tier does): Python's ``json`` writes
    them as ``NaN``/``Infinity``, which no other JSON reader accepts, so the value would not be portable data.
    Values stored that way before stay readable (``json.loads`` accepts them).
    """
    if not isinstance(value, dict):
        raise InvalidInputError(f"value for key {key!r} must be a dict, got {type(value).__name__}")
    try:
        raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise InvalidInputError(
                f"value for key {key!r} contains NaN or an infinity, which JSON cannot hold"
            ) from None
        raise InvalidInputError(f"value for key {key!r} is not JSON-serializable: {exc}") from None
    except (TypeError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"value for key {key!r} is not JSON-serializable: {exc}") from None
    if len(raw) > max_bytes:
        raise InvalidInputError(
            f"value for key {key!r} is {len(raw)} bytes encoded, over max_value_bytes={max_bytes}"
        )
    return raw


def decode_value(collection: str, key: str, raw: bytes) -> dict[str, Any]:
    """The stored dict; a record that is not a JSON object is an error naming where it is."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationError(
            f"record {key!r} of collection {collection!r} is not valid JSON: {exc}"
        ) from None
    if not isinstance(value, dict):
        raise SerializationError(
            f"record {key!r} of collection {collection!r} holds a {type(value).__name__}, not a JSON object"
        )
    return value


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


# -- the tier -------------------------------------------------------------------------------------------------


class KvTier(Tier[KvConfig, KvStats]):
    """Policy of the key-value tier; every public method returns a flow for the engine's drivers to run."""

    def __init__(self, config: KvConfig, namespace: str, clock: Clock, counters: CounterSet[KvStats]) -> None:
        if not isinstance(config, KvConfig):
            raise ConfigError(f"kv must be a KvConfig, got {type(config).__name__}")
        super().__init__(config, namespace, clock, counters)

    def _expiry(self, now: float) -> float | None:
        return None if self.config.ttl is None else now + self.config.ttl

    def get_many(self, collection: str, keys: Sequence[str]) -> Flow[list[dict[str, Any] | None]]:
        """Values of ``keys`` in order (``None`` for missing ones), in one round trip."""
        table = table_for(collection)
        checked = tuple(validate_key(k) for k in keys)
        if not checked:
            return []
        stored = tuple(storage_key(k) for k in checked)
        raws = yield from KvGet(self.namespace, table, stored, self.clock.now(), touch=False)
        found: list[dict[str, Any] | None] = []
        for key, where, raw in zip(checked, stored, raws):
            record = None if raw is None else decode_record(collection, where, raw)
            # A long key's record names its key: a different one (a digest collision) is not this key's value.
            found.append(record[1] if record is not None and record[0] == key else None)
        hits = sum(1 for value in found if value is not None)
        self.counters.add("gets", len(checked))
        self.counters.add("hits", hits)
        self.counters.add("misses", len(checked) - hits)
        return found

    def get(self, collection: str, key: str) -> Flow[dict[str, Any] | None]:
        values = yield from self.get_many(collection, (key,))
        return values[0]

    def put_many(
        self,
        collection: str,
        pairs: Iterable[tuple[str, dict[str, Any]]],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> Flow[None]:
        """Store pairs, ``batch_size`` records per round trip (one ``KvPut`` each, atomic per batch).

        Every pair is validated and encoded before the first write, so bad input stores nothing.
        """
        table = table_for(collection)
        size = _check_batch_size(batch_size)
        encoded: list[tuple[str, bytes]] = []
        for pair in pairs:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InvalidInputError(f"expected (key, dict) pairs, got {pair!r}"[:200])
            key = validate_key(pair[0])
            encoded.append((storage_key(key), encode_record(key, pair[1], self.config.max_value_bytes)))
        for start in range(0, len(encoded), size):
            now = self.clock.now()
            expires_at = self._expiry(now)
            items = tuple(KvItem(key, raw, expires_at) for key, raw in encoded[start : start + size])
            yield KvPut(self.namespace, table, items, now)
            self.counters.add("puts", len(items))
            self.counters.add("put_batches")

    def put(self, collection: str, key: str, value: dict[str, Any]) -> Flow[None]:
        yield from self.put_many(collection, [(key, value)], batch_size=1)

    def delete_many(self, collection: str, keys: Sequence[str]) -> Flow[int]:
        """Delete keys; returns how many existed."""
        table = table_for(collection)
        checked = tuple(storage_key(validate_key(k)) for k in keys)
        if not checked:
            return 0
        removed = yield from KvDelete(self.namespace, table, checked)
        self.counters.add("deletes", removed)
        return removed

    def delete(self, collection: str, key: str) -> Flow[bool]:
        removed = yield from self.delete_many(collection, (key,))
        return removed > 0

    def get_all(self, collection: str) -> Flow[dict[str, dict[str, Any]]]:
        """Every live record of a collection, read in bounded pages sorted by key."""
        table = table_for(collection)
        out: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            page = yield from KvScan(self.namespace, table, self.clock.now(), limit=SCAN_PAGE, after=after)
            self.counters.add("scans")
            for stored, raw in page:
                key, value = decode_record(collection, stored, raw)
                out[key] = value
            if len(page) < SCAN_PAGE:
                # Long keys sit at their head's place; a full sort puts them exactly where they belong.
                return dict(sorted(out.items())) if any(len(k) > DIRECT_KEY_CHARS for k in out) else out
            after = page[-1][0]

    def keys(self, collection: str) -> Flow[list[str]]:
        """Keys of a collection's live records, sorted, without transferring values."""
        table = table_for(collection)
        keys: list[str] = []
        after: str | None = None
        while True:
            page = yield from KvScan(
                self.namespace, table, self.clock.now(), keys_only=True, limit=SCAN_PAGE, after=after
            )
            self.counters.add("scans")
            keys.extend(key for key, _ in page)
            if len(page) < SCAN_PAGE:
                break
            after = page[-1][0]
        long_keys = tuple(k for k in keys if _is_digest(k))
        if not long_keys:
            return keys
        # Only a long key's record holds the key itself: read those records back.
        raws = yield from KvGet(self.namespace, table, long_keys, self.clock.now(), touch=False)
        full = {
            stored: decode_record(collection, stored, raw)[0]
            for stored, raw in zip(long_keys, raws)
            if raw is not None
        }
        return sorted(full.get(k, k) if _is_digest(k) else k for k in keys if not _is_digest(k) or k in full)

    def clear(self, collection: str) -> Flow[int]:
        """Delete a whole collection; returns how many records it held."""
        removed = yield from KvDeleteWhere(self.namespace, table_for(collection))
        self.counters.add("deletes", removed)
        return removed
