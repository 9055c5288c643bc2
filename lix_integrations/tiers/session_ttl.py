"""Per-session TTL (``ttl=`` on ``LixChatMessageHistory``, the LlamaIndex chat store and ``engine.sessions``).

A session with a TTL is forgotten once it has gone ``ttl`` seconds without a write: every write refreshes it, as
langchain-redis's ``RedisChatMessageHistory(ttl=...)`` does. Two mechanisms, one meaning:

* every call made with a TTL first checks the session's last write (the store's ``updated_at``, on the tier's
  clock) and deletes a stale session, store and archive, before doing anything else: this is what memory and
  SQLite rely on, and what fake-clock tests check;
* every write made with a TTL asks the store to drop the session on its own ``ttl`` seconds later
  (`ListExpire`: ``PEXPIRE`` on Redis and Valkey), so an abandoned session
  frees the server's memory without any sweep.

A session Redis expired is gone from the store while this process may still remember writing it; with a TTL that
is an expiry, not a store loss, so the tier is told to forget it (no loss WARNING) and its leftover archive older
than the TTL is deleted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import InvalidInputError
from ..kernel.flows import Flow, T
from ..kernel.ops import ListExpire, ListInfo, ListStatus
from .sessions import LocalCall, SessionTier, session_key, validate_session_id

__all__ = ["check_ttl", "with_ttl"]


def check_ttl(ttl: object) -> float | None:
    """``None`` (no TTL) or a positive, finite number of seconds."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
        raise InvalidInputError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
    return float(ttl)


def with_ttl(tier: SessionTier, session_id: str, ttl: float | None, flow: Flow[T], *, write: bool) -> Flow[T]:
    """``flow`` on a session with a TTL: a stale session is deleted first; a write refreshes the TTL."""
    ttl = check_ttl(ttl)
    if ttl is None:
        return (yield from flow)
    session_id = validate_session_id(session_id)
    yield from _expire_if_stale(tier, session_id, ttl)
    result = yield from flow
    if write:
        yield ListExpire(tier.namespace, session_key(session_id), ttl)
    return result


def _expire_if_stale(tier: SessionTier, session_id: str, ttl: float) -> Flow[bool]:
    now: float = tier._clock.now()
    status: ListStatus | None = yield ListInfo(tier.namespace, session_key(session_id))
    if status is not None:
        last_write = status.updated_at
    else:
        # Not in the store: never written, moved wholly to the archive (idle sessions), or expired by the store.
        tier._written.pop(session_id, None)  # an expiry, not a loss the tier should warn about
        meta: Any = yield LocalCall(partial(_archive_meta, tier.archive.meta, session_id))
        if meta is None:
            return False
        last_write = meta.updated_at
    if now - last_write < ttl:
        return False
    yield from tier.delete_session(session_id)
    tier.counters.add("expired_sessions")
    return True


def _archive_meta(read: Callable[[str], Any], session_id: str) -> Any:
    return read(session_id)
