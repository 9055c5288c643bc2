"""What a process remembers of the sessions it read or wrote: the store's hot items, checked on every read.

A chat read costs a round trip plus decoding every message into the framework's object (a LlamaIndex
``ChatMessage`` takes ~6 us to validate from JSON; 20 of them cost more than the round trip). The tier keeps the
hot items of recently used sessions, and what a codec keeps of their messages, under the list's version stamp
(`ListSnapshot`). Every read still asks the store, in its one round trip,
whether the stamp is current: when another client appended, deleted or trimmed, the reply carries the new items,
so no change is ever missed. Readers get new objects (``codec.thaw_all``), never remembered ones.

Appends by this process extend the remembered window when the store says nothing else changed in between
(the append's previous stamp is the remembered one), so a write followed by a read costs no decoding.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Generic, Protocol, TypeVar

from ..kernel.ops import ListAppended, ListStatus

__all__ = ["HotCache", "MessageCodec", "Window"]

M = TypeVar("M")


class MessageCodec(Protocol[M]):
    """How an adapter's message objects become stored JSON and back, written once per framework.

    ``encode`` returns one JSON object (UTF-8 bytes); ``decode`` reads what any writer stored (a JSON object).
    ``keep`` returns what the tier remembers of a message: nothing a caller can change afterwards (a tuple of
    strings, or a deep copy); ``thaw`` makes a new message of it for each reader, which the reader may change.
    A codec may also have ``thaw_all(kept) -> list``, the same for a whole window in one call (a chat read thaws
    its window; the LlamaIndex codec's saved a tenth of the thawing): it is used when present.
    """

    def encode(self, message: M) -> bytes: ...

    def decode(self, raw: bytes) -> M: ...

    def keep(self, message: M) -> object: ...

    def encode_keep(self, message: M) -> tuple[bytes, object]:
        """``(encode(message), keep(message))``, which a codec may make in one pass (an append does both)."""
        ...

    def thaw(self, kept: object) -> M: ...


class Window(Generic[M]):
    """A session's items in the store as of ``version``, and what codecs keep of their messages (same order).

    Never changed once made but for ``decoded`` (filled as codecs ask) and its status, which a window extended by
    an append of this process (`grown`) makes only when a reader asks for it: most appends are never read
    before the next one, and a frozen `ListStatus` per append was a quarter of the cache's per-append
    bookkeeping (2026-12-04, timeit of ``HotCache.appended``: 3.9 before, see `HotCache.appended`)."""

    __slots__ = ("_grown", "_status", "decoded", "items", "version")

    def __init__(
        self,
        version: str,
        status: ListStatus,
        items: tuple[tuple[int, bytes], ...],
        decoded: dict[object, list[Any]] | None = None,
    ) -> None:
        self.version = version
        self._status = status
        self.items = items
        self.decoded: dict[object, list[Any]] = {} if decoded is None else decoded
        #: (length, first_seq, last_seq, updated_at) of the status, when it is to be made from ``_status``.
        self._grown: tuple[int, int | None, int, float] | None = None

    @property
    def status(self) -> ListStatus:
        grown = self._grown
        if grown is None:
            return self._status
        was = self._status
        length, first, last, now = grown
        # Two threads may make it at once: both make the same status.
        status = ListStatus(length, first, last, last + 1, now, was.base_seq, was.archived_through)
        self._status = status
        self._grown = None
        return status

    def grown(
        self,
        version: str,
        items: tuple[tuple[int, bytes], ...],
        length: int,
        first: int,
        last: int,
        now: float,
    ) -> Window[M]:
        """A new window: this one with ``items`` (all of them) after an append of ``first``..``last``."""
        new: Window[M] = Window(version, self._status, items)
        grown = self._grown
        held = grown[1] if grown is not None else self._status.first_seq
        new._grown = (length, first if held is None else held, last, now)
        return new

    def messages(self, codec: MessageCodec[M], start: int) -> list[M]:
        """The items from ``start`` on as new ``codec`` objects: thawed from what the window keeps, or decoded
        (the first read: the decoded objects go to the caller, the window keeps ``codec.keep`` of them)."""
        kept = self.decoded.get(codec)
        if kept is None:
            made = [codec.decode(value) for _, value in self.items]
            self.decoded[codec] = [codec.keep(m) for m in made]
            return made[start:]
        thaw_all = getattr(codec, "thaw_all", None)
        if thaw_all is not None:
            return thaw_all(kept[start:])  # type: ignore[no-any-return]
        thaw = codec.thaw
        return [thaw(k) for k in kept[start:]]


class HotCache:
    """Windows of recently used sessions, least recently used dropped first, at most ``limit`` items in all."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._windows: OrderedDict[str, Window[Any]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Window[Any] | None:
        if not self.limit:
            return None
        with self._lock:
            found = self._windows.get(key)
            if found is not None:
                self._windows.move_to_end(key)
            return found

    def put(self, key: str, window: Window[Any]) -> None:
        if not self.limit or not window.version or len(window.items) > self.limit:
            self.drop(key)
            return
        with self._lock:
            old = self._windows.pop(key, None)
            if old is not None:
                self._size -= len(old.items)
            self._windows[key] = window
            self._size += len(window.items)
            while self._size > self.limit:
                _, dropped = self._windows.popitem(last=False)
                self._size -= len(dropped.items)

    def drop(self, key: str) -> None:
        with self._lock:
            old = self._windows.pop(key, None)
            if old is not None:
                self._size -= len(old.items)

    def appended(
        self,
        key: str,
        result: ListAppended,
        values: tuple[bytes, ...],
        now: float,
        archived_through: int,
        objects: tuple[object, list[Any]] | None = None,
    ) -> None:
        """Extend the window by an append of this process, or forget it when the store changed otherwise.

        ``objects``: (codec, what it keeps of the appended messages) to remember with the values.
        """
        if not result.version or not result.seqs or result.recovered:
            self.drop(key)
            return
        first, last = result.seqs[0], result.seqs[-1]
        if result.created:
            status = ListStatus(len(values), first, last, last + 1, now, 0, archived_through)
            window: Window[Any] = Window(result.version, status, tuple(zip(result.seqs, values)))
            if objects is not None:
                window.decoded[objects[0]] = objects[1]
            self.put(key, window)
            return
        with self._lock:  # one pass under the lock: the window is taken out, extended and put back
            windows = self._windows
            old = windows.pop(key, None)
            if old is None:
                return
            self._size -= len(old.items)
            if old.version != result.previous:
                return  # another client changed the list since this process last saw it: forgotten
            items = old.items + (
                ((first, values[0]),) if len(values) == 1 else tuple(zip(result.seqs, values))
            )
            if len(items) > self.limit:
                return
            new: Window[Any] = old.grown(result.version, items, result.length, first, last, now)
            if objects is not None:
                kept = old.decoded.get(objects[0])
                if kept is not None:
                    new.decoded[objects[0]] = kept + objects[1]
            windows[key] = new
            self._size += len(items)
            while self._size > self.limit:
                _, dropped = windows.popitem(last=False)
                self._size -= len(dropped.items)
