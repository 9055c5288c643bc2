"""The document tier: JSON documents under namespace paths, with filters, TTLs and semantic search (LangGraph's
long-term memory store, ``BaseStore``, is its first user).

Storage is the KV records every backend has: one table per collection (``"docs:" + name``), one record per
document, keyed by `namespaced` (so a path prefix is a key prefix that stops at label boundaries). A record
is UTF-8 JSON holding the value, its timestamps, its TTL and the unit-length float32 vectors of its indexed texts
(base64), so a document and its vectors are written, expired and deleted together, on any backend, with no
search module. Nothing read back is unpickled.

* Search reads the records under the prefix in pages, filters them in-process and, for a natural-language
  query, ranks them by the best cosine of their vectors against the query's (embedded by the engine's embedder
  through the embedding tier); documents without vectors follow the ranked ones, newest first. Without a query
  the order is newest update first. A search costs one read per 1000 documents under the prefix.
* TTLs are seconds on the engine's clock (injectable). An expired document is never returned, whether or not a
  sweep (`DocumentTier.purge_expired`, or Redis's own expiry) removed it yet. A read may refresh the TTL of
  the documents it returns: the refresh only moves their expiry (``KvExpire``), so it cannot overwrite a value
  written since the read, nor revive one that expired.
* A write keeps the ``created_at`` of the document it replaces (one read before the write).

Which texts of a document are indexed is the caller's choice (``texts``): framework adapters extract them with
their own path language.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError, SerializationError, SettingsMismatchError
from ..kernel.clock import Clock
from ..kernel.counters import CounterSet
from ..kernel.flows import Flow
from ..kernel.ops import KvDelete, KvExpire, KvGet, KvItem, KvPurgeExpired, KvPut, KvScan
from .document_stats import DocumentStats
from .kv import validate_collection
from .namespaced import Path, decode_record_key, encode_path, record_key, validate_label, validate_path

_loads: Callable[[bytes], Any]
# A search decodes every record under its prefix; orjson read one record in 1.6 us against json's 8.7 us (timeit,
# 2026-12-04), which took benchmarks/langgraph_store.py's filtered search from 5.5x to 1.1-1.5x SqliteStore's time.
try:
    from orjson import loads as _orjson_loads

    _loads = _orjson_loads
except ImportError:  # pragma: no cover - orjson comes with LangGraph and LangSmith
    _loads = json.loads

__all__ = [
    "FILTER_OPERATORS",
    "TABLE_PREFIX",
    "Document",
    "DocumentTier",
    "DocumentWrite",
    "check_filter",
    "matches_filter",
    "path_matches",
    "table_for",
]

TABLE_PREFIX = "docs:"
SCAN_PAGE = 1000
FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
_MISSING = object()


def table_for(collection: str) -> str:
    return TABLE_PREFIX + validate_collection(collection)


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document as read back; ``score`` is set by a ranked search (cosine, higher is closer)."""

    path: Path
    key: str
    value: dict[str, Any]
    created_at: float
    updated_at: float
    ttl: float | None = None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """One write: ``value=None`` deletes. ``texts`` are embedded and searched (none: not searchable by meaning);
    ``ttl`` is seconds (``None``: never expires)."""

    path: Path
    key: str
    value: Mapping[str, Any] | None
    texts: tuple[str, ...] = ()
    ttl: float | None = None


# -- pure helpers ---------------------------------------------------------------------------------------------


def _check_ttl(ttl: object) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0 or math.isinf(ttl):
        raise InvalidInputError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
    return float(ttl)


def _encode_vector(vec: np.ndarray[Any, Any]) -> str:
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")


def _decode_vector(text: str) -> np.ndarray[Any, Any]:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def encode_record(
    key: str, value: Mapping[str, Any], created: float, updated: float, ttl: float | None, vectors: list[str]
) -> bytes:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"value for key {key!r} must be a mapping, got {type(value).__name__}")
    record = {"v": dict(value), "c": created, "u": updated, "t": ttl, "x": vectors}
    try:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        raise InvalidInputError(f"value for key {key!r} is not JSON-serializable: {exc}") from None


def decode_record(raw_key: str, raw: bytes) -> tuple[Document, list[str]]:
    path, key = decode_record_key(raw_key)
    try:
        record = _loads(raw)
        value, created, updated, ttl, vectors = (
            record["v"],
            record["c"],
            record["u"],
            record["t"],
            record["x"],
        )
    except (ValueError, KeyError, TypeError) as exc:  # orjson's and json's decode errors are ValueErrors
        raise SerializationError(f"document {key!r} under {path!r} is not a valid record: {exc}") from None
    if not isinstance(value, dict) or not isinstance(vectors, list):
        raise SerializationError(f"document {key!r} under {path!r} is not a valid record")
    return Document(path, key, value, float(created), float(updated), ttl), vectors


def check_filter(flt: object) -> Mapping[str, Any]:
    """Refuse an unknown ``$`` operator before anything is read (a typo must not silently match nothing)."""
    if flt is None:
        return {}
    if not isinstance(flt, Mapping):
        raise InvalidInputError(f"filter must be a mapping, got {type(flt).__name__}")

    def walk(cond: object) -> None:
        if isinstance(cond, Mapping):
            for op, sub in cond.items():
                if isinstance(op, str) and op.startswith("$") and op not in FILTER_OPERATORS:
                    raise InvalidInputError(
                        f"unsupported filter operator {op!r} (use one of {sorted(FILTER_OPERATORS)})"
                    )
                walk(sub)

    for field, cond in flt.items():
        if not isinstance(field, str):
            raise InvalidInputError(f"filter fields must be strings, got {field!r}")
        walk(cond)
    return flt


def _lookup(doc: Mapping[str, Any], field: str) -> Any:
    """``doc[field]``, or the nested value a dotted field names (``"user.name"``)."""
    if field in doc:
        return doc[field]
    current: Any = doc
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _equal(actual: Any, expected: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):  # JSON keeps true and 1 apart
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def _ordered(actual: Any, op: str, expected: Any) -> bool:
    numbers = (int, float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        a, b = float(actual), float(expected)
    elif isinstance(actual, str) and isinstance(expected, str):
        a, b = actual, expected  # type: ignore[assignment]
    else:
        return False  # a missing field or mismatched types never compare
    if op == "$gt":
        return a > b
    if op == "$gte":
        return a >= b
    if op == "$lt":
        return a < b
    return a <= b


def _matches(actual: Any, cond: Any) -> bool:
    if isinstance(cond, Mapping):
        if any(isinstance(k, str) and k.startswith("$") for k in cond):
            return all(
                _equal(actual, v)
                if op == "$eq"
                else (not _equal(actual, v))
                if op == "$ne"
                else _ordered(actual, op, v)
                for op, v in cond.items()
            )
        if not isinstance(actual, Mapping):
            return False
        return all(_matches(actual.get(k, _MISSING), v) for k, v in cond.items())
    if isinstance(cond, (list, tuple)):
        return (
            isinstance(actual, list)
            and len(actual) == len(cond)
            and all(_matches(a, c) for a, c in zip(actual, cond))
        )
    return _equal(actual, cond)


def matches_filter(value: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    """Whether a document value satisfies every field condition (exact values, nested dicts, ``$`` operators)."""
    return all(_matches(_lookup(value, field), cond) for field, cond in flt.items())


def path_matches(match_type: str, pattern: Sequence[str], path: Path) -> bool:
    """Whether ``path`` starts (``"prefix"``) or ends (``"suffix"``) with ``pattern``; ``"*"`` is any one label."""
    if len(path) < len(pattern):
        return False
    if match_type == "prefix":
        pairs = zip(path, pattern)
    elif match_type == "suffix":
        pairs = zip(reversed(path), reversed(pattern))
    else:
        raise InvalidInputError(f"match type must be 'prefix' or 'suffix', got {match_type!r}")
    return all(want == "*" or have == want for have, want in pairs)


def _check_page(limit: object, offset: object) -> tuple[int, int]:
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
    return int(limit), int(offset)  # type: ignore[call-overload]


# -- the tier -------------------------------------------------------------------------------------------------


class DocumentTier:
    """Policy of the document tier; every public method returns a flow for the engine's drivers."""

    def __init__(
        self,
        namespace: str,
        clock: Clock,
        embed: Callable[[list[str], str], Flow[Any]],
        counters: CounterSet[DocumentStats],
    ) -> None:
        """``embed(texts, role)`` is a flow giving unit-length vectors (the engine's embedder)."""
        self._namespace = namespace
        self._clock = clock
        self._embed = embed
        self.counters = counters

    def _refresh(self, table: str, docs: Iterable[Document], now: float) -> Flow[None]:
        items = tuple((record_key(d.path, d.key), now + d.ttl) for d in docs if d.ttl is not None)
        if items:
            yield KvExpire(self._namespace, table, items, now)

    def get_many(
        self, collection: str, wanted: Sequence[tuple[Path, str, bool]]
    ) -> Flow[list[Document | None]]:
        """The documents at (path, key) in order (``None``: absent or expired); ``refresh`` extends their TTL."""
        table = table_for(collection)
        keys = tuple(record_key(validate_path(path), key) for path, key, _ in wanted)
        if not keys:
            return []
        now = self._clock.now()
        raws: list[bytes | None] = yield KvGet(self._namespace, table, keys, now, touch=False)
        found = [None if raw is None else decode_record(k, raw)[0] for k, raw in zip(keys, raws)]
        hits = sum(d is not None for d in found)
        self.counters.update(gets=len(found), hits=hits, misses=len(found) - hits)
        yield from self._refresh(
            table, (d for d, (_, _, r) in zip(found, wanted) if d is not None and r), now
        )
        return found

    def put_many(self, collection: str, writes: Sequence[DocumentWrite]) -> Flow[None]:
        """Apply writes (last one wins per path and key); all are checked and embedded before any is stored."""
        table = table_for(collection)
        latest: dict[str, DocumentWrite] = {}
        for write in writes:
            latest[record_key(validate_path(write.path), write.key)] = write
            _check_ttl(write.ttl)
        doomed = tuple(k for k, w in latest.items() if w.value is None)
        kept = {k: w for k, w in latest.items() if w.value is not None}
        for write in kept.values():  # refuse bad values before embedding or writing anything
            encode_record(write.key, write.value or {}, 0.0, 0.0, None, [])
        texts = list(dict.fromkeys(t for w in kept.values() for t in w.texts))
        vectors: dict[str, str] = {}
        if texts:
            matrix = yield from self._embed(texts, "document")
            vectors = {text: _encode_vector(row) for text, row in zip(texts, matrix)}
        if kept:
            now = self._clock.now()
            old: list[bytes | None] = yield KvGet(self._namespace, table, tuple(kept), now, touch=False)
            items = []
            for (key, write), raw in zip(kept.items(), old):
                created = now if raw is None else _created_at(key, raw, now)
                ttl = _check_ttl(write.ttl)
                record = encode_record(
                    write.key,
                    write.value or {},
                    created,
                    now,
                    ttl,
                    [vectors[t] for t in dict.fromkeys(write.texts)],
                )
                items.append(KvItem(key, record, None if ttl is None else now + ttl))
            yield KvPut(self._namespace, table, tuple(items), now)
            self.counters.add("puts", len(items))
        if doomed:
            yield KvDelete(self._namespace, table, doomed)
            self.counters.add("deletes", len(doomed))

    def _scan(self, table: str, prefix: str, keys_only: bool) -> Flow[list[tuple[str, bytes]]]:
        out: list[tuple[str, bytes]] = []
        after: str | None = None
        while True:
            page: list[tuple[str, bytes]] = yield KvScan(
                self._namespace,
                table,
                self._clock.now(),
                prefix=prefix,
                keys_only=keys_only,
                limit=SCAN_PAGE,
                after=after,
            )
            out.extend(page)
            if len(page) < SCAN_PAGE:
                return out
            after = page[-1][0]

    def search(
        self,
        collection: str,
        prefix: Sequence[str],
        *,
        filter: Mapping[str, Any] | None = None,
        query: str | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh: bool = True,
    ) -> Flow[list[Document]]:
        """Documents under ``prefix`` matching ``filter``, ranked by ``query`` when given, paged."""
        table = table_for(collection)
        scan_prefix = encode_path(validate_path(prefix))
        flt = check_filter(filter)
        limit, offset = _check_page(limit, offset)
        if query is not None and not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        rows = yield from self._scan(table, scan_prefix, False)
        candidates = [decode_record(k, raw) for k, raw in rows]
        candidates = [(doc, vecs) for doc, vecs in candidates if matches_filter(doc.value, flt)]
        newest = sorted(candidates, key=lambda c: (-c[0].updated_at, c[0].path, c[0].key))
        if query and any(vecs for _, vecs in newest):
            matrix = yield from self._embed([query], "query")
            target = np.asarray(matrix[0], dtype=np.float32)
            scored: list[Document] = []
            unscored: list[Document] = []
            for doc, vecs in newest:
                if not vecs:
                    unscored.append(doc)
                    continue
                stacked = np.stack([_decode_vector(v) for v in vecs])
                if stacked.shape[1] != target.shape[0]:
                    raise SettingsMismatchError("dimension", stacked.shape[1], target.shape[0])
                scored.append(_with_score(doc, float(np.max(stacked @ target))))
            scored.sort(key=lambda d: -(d.score or 0.0))  # stable: ties stay newest first
            ranked = scored + unscored
        else:
            ranked = [doc for doc, _ in newest]
        page = ranked[offset : offset + limit]
        self.counters.add("searches")
        if refresh:
            yield from self._refresh(table, page, self._clock.now())
        return page

    def list_paths(
        self,
        collection: str,
        *,
        conditions: Sequence[tuple[str, Sequence[str]]] = (),
        max_depth: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Flow[list[Path]]:
        """Distinct paths holding live documents that meet every (match type, pattern) condition, sorted;
        ``max_depth`` truncates them (then deduplicates)."""
        table = table_for(collection)
        limit, offset = _check_page(limit, offset)
        if max_depth is not None and (
            isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1
        ):
            raise InvalidInputError(f"max_depth must be a positive integer or None, got {max_depth!r}")
        checked: list[tuple[str, tuple[str, ...]]] = []
        scan_prefix = ""
        for match_type, pattern in conditions:
            labels = tuple(validate_label(label, pattern) for label in pattern)
            path_matches(match_type, labels, labels)  # refuses an unknown match type now
            checked.append((match_type, labels))
            if match_type == "prefix" and not scan_prefix:
                literal = []
                for label in labels:
                    if label == "*":
                        break
                    literal.append(label)
                scan_prefix = encode_path(literal)
        rows = yield from self._scan(table, scan_prefix, True)
        paths = {decode_record_key(k)[0] for k, _ in rows}
        kept = [p for p in paths if all(path_matches(t, pat, p) for t, pat in checked)]
        if max_depth is not None:
            kept = list({p[:max_depth] for p in kept})
        self.counters.add("listings")
        return sorted(kept)[offset : offset + limit]

    def purge_expired(self, collection: str) -> Flow[int]:
        """Delete the collection's expired documents now (reads never return them either way)."""
        removed: int = yield KvPurgeExpired(self._namespace, table_for(collection), self._clock.now())
        return removed


def _created_at(key: str, raw: bytes, default: float) -> float:
    try:
        return decode_record(key, raw)[0].created_at
    except SerializationError:
        return default


def _with_score(doc: Document, score: float) -> Document:
    return Document(doc.path, doc.key, doc.value, doc.created_at, doc.updated_at, doc.ttl, score)
