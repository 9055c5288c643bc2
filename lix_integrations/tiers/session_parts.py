"""The session tier's stateless pieces: configuration, the driver's own operations, results and statistics, ids,
message encoding and archive directories (the tier itself is `sessions`)."""

from __future__ import annotations

import atexit
import json
import logging
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..archive.codec import Codec
from ..archive.format import ArchiveCorruptError
from ..archive.store import SessionArchive
from ..config import default_store_path
from ..errors import InvalidIdError, InvalidInputError
from ..kernel.counters import Snapshot
from ..kernel.flows import Flow
from ..kernel.keys import digest
from ..kernel.ops import (
    EvictionPolicy,
    ListStatus,
    RunLocal,
    Sleep,
)
from .session_cache import MessageCodec, Window

logger = logging.getLogger(__name__)

_MAX_SESSION_ID = 512
_CODECS = {"zstd-dict": Codec.ZSTD_DICT_V1, "zstd": Codec.ZSTD, "zlib": Codec.ZLIB, "raw": Codec.RAW}
_KEY_PAGE = 1000
#: Sessions whose last written seq a process remembers, to report one the store lost whole (about 100 bytes each).
_WRITTEN_SESSIONS = 10_000

Message = dict[str, Any]
EmbedTexts = Callable[[list[str], str], Flow[Any]]


# -- configuration --------------------------------------------------------------------------------------------


# -- operations the sessions driver runs itself ---------------------------------------------------------------


#: Archive file I/O and lock back-off are the runtime's generic ops (a worker thread / ``asyncio.sleep`` under
#: an event loop); the old names stay for readers of the session tier.
LocalCall = RunLocal
Pause = Sleep


# -- results and statistics -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelevantMessage:
    message: Message
    score: float
    position: int  # index in the full history


@dataclass(frozen=True, slots=True)
class SmartContext:
    """``recent`` (the last messages, in order) and ``relevant`` (older ones by similarity, in history order)."""

    recent: list[Message]
    relevant: list[RelevantMessage]

    def messages(self) -> list[Message]:
        """Relevant older messages, then the recent ones: a prompt-ready history in chronological order."""
        return [r.message for r in self.relevant] + self.recent


@dataclass(frozen=True)
class SessionStats(Snapshot):
    """Counters of the session tier.

    ``store_losses``: sessions found damaged by the store itself (their keys gone after a restart without
    persistence, ``FLUSHALL``, eviction or a ``DEL``), each also logged as a WARNING naming the session.
    ``lost_messages``: messages known to be gone in those events (the store kept their seqs but not their
    values). A session the store lost whole while nothing of it was archived leaves no trace to count: see
    ``docs/reliability.md``.
    """

    appended: int
    reads: int
    spills: int
    archived_messages: int
    rehydrations: int
    idle_migrations: int
    expired_sessions: int
    store_losses: int = 0
    lost_messages: int = 0


# -- pure helpers ---------------------------------------------------------------------------------------------


def validate_session_id(session_id: object) -> str:
    """Any non-empty string of at most 512 characters; it is encoded, never used raw, in keys and file names."""
    if not isinstance(session_id, str) or not session_id:
        raise InvalidIdError(f"session id must be a non-empty string, got {session_id!r}")
    if len(session_id) > _MAX_SESSION_ID:
        raise InvalidIdError(f"session id is longer than {_MAX_SESSION_ID} characters")
    try:
        session_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidIdError("session id contains a lone surrogate and cannot be stored") from None
    return session_id


@lru_cache(maxsize=4096)
def session_key(session_id: str) -> str:
    """The store key of a session: percent-encoded, so ``alice`` and ``alice:secret`` or ``*`` stay apart and a
    prefix of an id is a prefix of its key (what ``list_sessions(prefix)`` scans). Memoized: ``quote`` costs
    3 us, a tenth of the append path above the store's round trip; its regex form here, what ``quote(session_id,
    safe="")`` returns for a valid id (UTF-8, ``[A-Za-z0-9_.~-]`` kept), 2.4 against 1.3 us, paid once per new
    session (2026-12-05, timeit, loaded machine)."""
    return _UNQUOTED.sub(_percent, session_id.encode("utf-8")).decode("ascii")


#: What ``urllib.parse.quote(..., safe="")`` leaves as it is (RFC 3986 unreserved); every other byte is %XX.
_UNQUOTED = re.compile(rb"[^A-Za-z0-9_.~-]")


def _percent(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


def _encode_message(message: object, index: int, limit: int) -> bytes:
    if not isinstance(message, Mapping):
        raise InvalidInputError(f"message {index} must be a dict (JSON object), got {type(message).__name__}")
    try:
        raw = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
            "utf-8", "surrogatepass"
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"message {index} is not JSON-serializable: {exc}") from None
    if len(raw) > limit:
        raise InvalidInputError(f"message {index} is {len(raw)} bytes, over the limit of {limit}")
    return raw


def _encode_with(codec: MessageCodec[Any], message: object, index: int, limit: int) -> bytes:
    return _checked(codec.encode(message), index, limit)


def _checked(raw: object, index: int, limit: int) -> bytes:
    """A codec's encoding of message ``index``, checked: one JSON object, at most ``limit`` bytes."""
    if not isinstance(raw, bytes) or raw[:1] != b"{":
        raise InvalidInputError(f"message {index} did not encode to a JSON object")
    if len(raw) > limit:
        raise InvalidInputError(f"message {index} is {len(raw)} bytes, over the limit of {limit}")
    return raw


def _tail(
    hot: Sequence[tuple[int, bytes]], window: Window[Any] | None, codec: MessageCodec[Any] | None, n: int
) -> list[Any]:
    """The last ``n`` of the store's items as messages: dicts parsed afresh, or new objects of a codec."""
    start = max(0, len(hot) - n)
    if codec is None:
        return _decode_all([v for _, v in hot[start:]])
    if window is None:
        return [codec.decode(v) for _, v in hot[start:]]
    return window.messages(codec, start)


def _store_holds_all(status: ListStatus | None) -> bool:
    """Whether the store's list is the whole session, so the archive need not be opened (in async code that is
    a trip to a worker thread): nothing was archived since the base, and the list starts at the base. A list
    that starts later may follow an archive the store forgot (a store that lost the session continues after
    the archive's last seq), or a deleted first message; both read the archive."""
    if status is None:
        return False
    start = max(status.base_seq, 1)
    return status.archived_through < start and (status.first_seq is None or status.first_seq <= start)


def _decode(value: bytes) -> Message:
    return json.loads(value)  # type: ignore[no-any-return]


def _decode_all(values: list[bytes]) -> list[Message]:
    """Every message in one JSON parse (half the time of one parse each for a 20-message window); a value that
    does not parse on its own is decoded one by one, so it fails exactly as it would alone."""
    if len(values) > 1:
        try:
            parsed = json.loads(b"[" + b",".join(values) + b"]")
        except ValueError:
            pass
        else:
            if len(parsed) == len(values) and all(isinstance(m, dict) for m in parsed):
                return parsed  # type: ignore[no-any-return]
    return [_decode(v) for v in values]


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message in the shapes the adapters store (plain, LangChain dict, LlamaIndex dump)."""
    data = message.get("data")
    if isinstance(data, Mapping) and "content" in data:
        message = data
    content = message.get("content")
    if content is None and isinstance(message.get("blocks"), list):
        content = message["blocks"]
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, Mapping) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return ""


# -- archive directories ----------------------------------------------------------------------------------------

_memory_dirs: dict[str, Path] = {}
_memory_dirs_lock = threading.Lock()


def _memory_archive_dir(name: str) -> Path:
    """``memory://`` stores vanish with the process; so do their archives (a temporary directory each)."""
    with _memory_dirs_lock:
        found = _memory_dirs.get(name)
        if found is None:
            found = _memory_dirs[name] = Path(tempfile.mkdtemp(prefix="lix-sessions-"))
            atexit.register(shutil.rmtree, found, True)
        return found


def default_archive_root(backend_url: str, owner: object) -> Path:
    """Where a store's archives go when ``archive_dir`` is not set."""
    if backend_url.startswith("sqlite:///") and backend_url != "sqlite:///:memory:":
        db = Path(backend_url[len("sqlite:///") :])
        return db.with_name(db.name + ".sessions")
    if backend_url.startswith("memory://") or backend_url == "sqlite:///:memory:":
        name = backend_url.split("://", 1)[1]
        return _memory_archive_dir(
            name if name and backend_url.startswith("memory://") else f"anon-{id(owner)}"
        )
    return default_store_path().parent / "sessions" / digest("archive", backend_url)[:16]


_eviction_warned: set[str] = set()
_eviction_lock = threading.Lock()


def evicts_sessions(found: EvictionPolicy) -> bool:
    """Whether a store may drop session keys on its own: an ``allkeys-*`` policy with a memory limit set (or
    unknown). ``volatile-*`` policies only evict keys with a TTL, and session keys have none."""
    return (found.policy or "").startswith("allkeys-") and found.maxmemory != 0


@dataclass
class _History:
    """A session's whole history as read: store status, (seq, message) pairs in order, where each came from."""

    status: ListStatus | None
    items: list[tuple[int, Message]] = field(default_factory=list)
    hot_seqs: set[int] = field(default_factory=set)


def _encode_raw(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _meta_or_none(archive: SessionArchive, name: str | None, session_id: str | None = None) -> Any:
    """Archive headers, ``None`` without a file, ``False`` when unreadable (logged): one damaged file must not
    stop a cleanup, nor be deleted unseen."""
    try:
        return archive.meta_by_name(name) if name is not None else archive.meta(session_id or "")
    except ArchiveCorruptError as exc:
        logger.warning("skipping unreadable archive during cleanup: %s", exc)
        return False
