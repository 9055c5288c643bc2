"""Pure parts of the checkpoint tier: the records it stores, their keys and their byte layout.

No I/O here: `checkpoints` decides what to read and write; these functions say how a checkpoint, a channel
value, a list item or a pending write becomes a key and bytes, and refuse bytes that do not parse (a corrupt or
tampered record raises `SerializationError` naming where it is stored).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from ..config.tiers import CheckpointConfig
from ..errors import InvalidIdError, SerializationError

__all__ = [
    "BlobValue",
    "CheckpointConfig",
    "CheckpointHead",
    "ListValue",
    "NewCheckpoint",
    "StoredCheckpoint",
    "StoredWrite",
    "ThreadInfo",
    "Typed",
    "invert_id",
    "pack",
    "thread_table",
    "uninvert_id",
    "unpack",
    "validate_name",
]

SEP = "\x1f"
TABLE_PREFIX = "lg/"
MAX_ID = 512
FORMAT = b"1"
DIGEST = 8  # bytes of an item digest; items are content-addressed within one thread and channel
TOMBSTONE, EXPIRY, GENERATION = "t", "e", "g"


@dataclass(frozen=True, slots=True)
class Typed:
    """A value as a serializer wrote it: a type tag and bytes (LangGraph's ``dumps_typed`` pair)."""

    type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class ListValue:
    """A list channel value given item by item, so each item is stored once however many versions hold it."""

    items: tuple[Typed, ...]


#: A channel value to store: one typed value, a list of them, or ``None`` (the channel is empty at this version).
BlobValue = Typed | ListValue | None


@dataclass(frozen=True, slots=True)
class CheckpointHead:
    """What a checkpoint is, stored or read back: where it is (thread, namespace, id, parent) and LangGraph's
    serialized checkpoint and metadata."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed
    metadata: Typed


@dataclass(frozen=True, slots=True)
class NewCheckpoint(CheckpointHead):
    """What ``put`` stores. ``versions`` maps every channel of the checkpoint to its version token (a string);
    ``blobs`` holds the values of the channels whose version is new, by channel: (token, value)."""

    versions: Mapping[str, str]
    blobs: Mapping[str, tuple[str, BlobValue]]
    run_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredWrite:
    task_id: str
    channel: str
    value: Typed
    task_path: str
    idx: int


@dataclass(frozen=True, slots=True)
class StoredCheckpoint(CheckpointHead):
    """A checkpoint read back: its values by channel (a ``Typed`` or a tuple of ``Typed`` items, shared: never mutate it), and its pending
    writes in LangGraph's ``writes_sort_key`` order (task path, task id, index)."""

    values: dict[str, Typed | tuple[Typed, ...]]
    writes: list[StoredWrite]
    run_id: str | None


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread as the index knows it (``lix checkpoints list``)."""

    thread_id: str
    updated_at: float
    expires_at: float | None
    checkpoints: int | None = None


# -- pure helpers ---------------------------------------------------------------------------------------------


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_name(kind: str, value: object, *, allow_empty: bool = False) -> str:
    """A thread id, namespace, checkpoint id, channel or task id that can become part of a key."""
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidIdError(
            f"{kind} must be a {'' if allow_empty else 'non-empty '}string, got {value!r}"[:200]
        )
    if len(value) > MAX_ID or "\x00" in value or not _encodable(value):
        raise InvalidIdError(
            f"{kind} {value[:80]!r} is longer than {MAX_ID} characters or holds a NUL or a lone surrogate"
        )
    return value


def thread_table(thread_id: str) -> str:
    return TABLE_PREFIX + validate_name("thread_id", thread_id)


@lru_cache(maxsize=4096)  # called for every key of every operation with the same few names
def key_part(text: str) -> str:
    """``text`` as a key component: ``%``, the separator and ASCII capitals percent-escaped.

    Capitals are escaped too, so a backend whose prefix match ignores ASCII case (SQLite's ``LIKE`` did) cannot
    confuse two namespaces that differ only in case.
    """
    if not any(c == "%" or c == SEP or "A" <= c <= "Z" for c in text):
        return text
    return "".join(f"%{ord(c):02X}" if c == "%" or c == SEP or "A" <= c <= "Z" else c for c in text)


def invert_id(checkpoint_id: str) -> str:
    """A key part that sorts ascending where ``checkpoint_id`` sorts descending (printable ASCII ids only).

    Each character c becomes chr(0x9E - ord(c)), mirroring 0x20..0x7E onto itself, and a final 0x7F (above every
    mirrored character) makes a longer id with the same start sort first, as it does in descending order.
    """
    if not all(" " <= c <= "~" for c in checkpoint_id) or not checkpoint_id:
        raise InvalidIdError(
            f"checkpoint id {checkpoint_id[:80]!r} must be a non-empty string of printable ASCII characters "
            "(LangGraph's ids are)"
        )
    return "".join(chr(0x9E - ord(c)) for c in checkpoint_id) + "\x7f"


def uninvert_id(part: str) -> str:
    return "".join(chr(0x9E - ord(c)) for c in part[:-1])


def ckey(ns: str, checkpoint_id: str) -> str:
    return f"c{SEP}{key_part(ns)}{SEP}{invert_id(checkpoint_id)}"


def cprefix(ns: str | None) -> str:
    return f"c{SEP}" if ns is None else f"c{SEP}{key_part(ns)}{SEP}"


def bkey(ns: str, channel: str, token: str) -> str:
    return f"b{SEP}{key_part(ns)}{SEP}{key_part(channel)}{SEP}{key_part(token)}"


def ikey(ns: str, channel: str, digest: bytes) -> str:
    return f"i{SEP}{key_part(ns)}{SEP}{key_part(channel)}{SEP}{digest.hex()}"


def wprefix(ns: str, checkpoint_id: str) -> str:
    return f"w{SEP}{key_part(ns)}{SEP}{key_part(checkpoint_id)}{SEP}"


def wkey(ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    return f"{wprefix(ns, checkpoint_id)}{key_part(task_id)}{SEP}{idx}"


def pack(*parts: bytes) -> bytes:
    """Length-prefixed parts: unambiguous, and cheap next to JSON for the kilobytes a checkpoint holds."""
    out = [FORMAT, struct.pack(">I", len(parts))]
    for part in parts:
        out.append(struct.pack(">I", len(part)))
        out.append(part)
    return b"".join(out)


def unpack(raw: bytes, where: str) -> list[bytes]:
    """The parts of a `pack` record; anything else (truncated, tampered, foreign) is refused."""
    try:
        if raw[:1] != FORMAT:
            raise ValueError("unknown record format")
        (count,) = struct.unpack_from(">I", raw, 1)
        pos, parts = 5, []
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, pos)
            pos += 4
            if pos + size > len(raw):
                raise ValueError("truncated")
            parts.append(raw[pos : pos + size])
            pos += size
        if pos != len(raw):
            raise ValueError("trailing bytes")
    except (struct.error, ValueError) as exc:
        raise SerializationError(
            f"stored checkpoint record {where} is corrupt or was tampered with: {exc}"
        ) from None
    return parts


def item_digest(item: Typed) -> bytes:
    """An item's 8-byte content digest (its key within the thread and channel), one BLAKE2b call."""
    return hashlib.blake2b(item.data, digest_size=DIGEST, person=item.type.encode()[:16]).digest()


def encode_item(item: Typed) -> bytes:
    """A list item as stored: format byte, type, NUL, data (types never hold a NUL)."""
    return b"".join((FORMAT, item.type.encode(), b"\x00", item.data))


def decode_item(raw: bytes, key: str) -> Typed:
    sep = raw.find(b"\x00")
    if raw[:1] != FORMAT or sep < 1:
        raise SerializationError(f"stored list item {key!r} is corrupt or was tampered with")
    try:
        return Typed(raw[1:sep].decode(), raw[sep + 1 :])
    except UnicodeDecodeError:
        raise SerializationError(f"stored list item {key!r} is corrupt or was tampered with") from None


def item_keys(blob_key: str, manifest: bytes) -> list[str]:
    """The keys of the items a list value's manifest names (its blob key gives namespace and channel)."""
    _, ns_part, ch_part, _ = blob_key.split(SEP, 3)
    head = f"i{SEP}{ns_part}{SEP}{ch_part}{SEP}"
    return [head + manifest[i : i + DIGEST].hex() for i in range(0, len(manifest), DIGEST)]


def decode_blob(key: str, raw: bytes) -> Typed | list[str] | None:
    """A stored channel value: a ``Typed``, ``None`` for a channel empty at that version, or the keys of the items
    of a list value (in order)."""
    parts = unpack(raw, key)
    kind = parts[0] if parts else b""
    try:
        if kind == b"e":
            return None
        if kind == b"v" and len(parts) == 3:
            return Typed(parts[1].decode(), parts[2])
        if kind == b"l" and len(parts) == 2 and len(parts[1]) % DIGEST == 0:
            return item_keys(key, parts[1])
    except UnicodeDecodeError:
        pass
    raise SerializationError(f"stored channel value {key!r} is corrupt or was tampered with")


def verified_item(key: str, raw: bytes) -> Typed:
    """A stored list item, refused unless its content matches the digest its key names."""
    item = decode_item(raw, key)
    if item_digest(item) != bytes.fromhex(key.rsplit(SEP, 1)[1]):
        raise SerializationError(f"stored list item {key!r} does not match its digest (tampered)")
    return item


def encode_record(cp: NewCheckpoint) -> bytes:
    versions = json.dumps(dict(cp.versions), separators=(",", ":"), ensure_ascii=False).encode()
    return pack(
        cp.checkpoint_id.encode(),
        (cp.parent_id or "").encode(),
        cp.checkpoint.type.encode(),
        cp.checkpoint.data,
        cp.metadata.type.encode(),
        cp.metadata.data,
        versions,
        (cp.run_id or "").encode(),
    )


@dataclass(frozen=True, slots=True)
class Record:
    checkpoint_id: str
    parent_id: str | None
    checkpoint: Typed
    metadata: Typed
    versions: dict[str, str]
    run_id: str | None


def parse_record(raw: bytes, where: str) -> Record:
    parts = unpack(raw, where)
    if len(parts) != 8:
        raise SerializationError(f"stored checkpoint record {where} has {len(parts)} parts, expected 8")
    try:
        versions = json.loads(parts[6])
        if not isinstance(versions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
        ):
            raise ValueError("channel versions are not a string map")
        return Record(
            checkpoint_id=parts[0].decode(),
            parent_id=parts[1].decode() or None,
            checkpoint=Typed(parts[2].decode(), parts[3]),
            metadata=Typed(parts[4].decode(), parts[5]),
            versions=versions,
            run_id=parts[7].decode() or None,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationError(
            f"stored checkpoint record {where} is corrupt or was tampered with: {exc}"
        ) from None


def encode_blob(
    value: BlobValue, digest: Callable[[Typed], bytes] = item_digest
) -> tuple[bytes, list[tuple[bytes, Typed]]]:
    """A stored channel value, and the (digest, item) pairs a list value needs stored."""
    if value is None:
        return pack(b"e"), []
    if isinstance(value, Typed):
        return pack(b"v", value.type.encode(), value.data), []
    items = [(digest(item), item) for item in value.items]
    return pack(b"l", b"".join(d for d, _ in items)), items


def writes_order(write: StoredWrite) -> tuple[str, str, int]:
    return (write.task_path, write.task_id, write.idx)


# -- process-local knowledge ----------------------------------------------------------------------------------
def unpart(part: str) -> str:
    if "%" not in part:
        return part
    return unquote(part, errors="strict")


def parse_write(key: str, raw: bytes) -> StoredWrite:
    parts = unpack(raw, repr(key))
    if len(parts) != 6:
        raise SerializationError(f"stored pending write {key!r} is corrupt or was tampered with")
    try:
        return StoredWrite(
            task_id=parts[0].decode(),
            channel=parts[1].decode(),
            value=Typed(parts[2].decode(), parts[3]),
            task_path=parts[4].decode(),
            idx=int(parts[5]),
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationError(
            f"stored pending write {key!r} is corrupt or was tampered with: {exc}"
        ) from None
