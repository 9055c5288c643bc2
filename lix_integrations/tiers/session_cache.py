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
    ``keep`` returns what the tier remembers of a message: nothing a caller can change afterwards (a string, a
    tuple of strings, or a deep copy); ``thaw`` makes a new message of it for each reader, which the reader may change.
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

    Its items are the first ``n`` of ``seqs`` and ``values``, lists a window shares with the window an append of
    this process makes of it (`HotCache.appended` extends them in place, the only writer, under its lock, once
    per window: the newest of a chain), as it shares ``decoded``'s list of the appending codec; ``items`` makes
    the (seq, value) pairs when asked. An append so makes no tuple of the whole window, no pair and no new list:
    of the 3.2 new objects the garbage collector counted per later chat add (RedisChatStore: 0.35), that left
    1.2, and the LlamaIndex codec's one string per kept message 0.2; lix's adds had run ~9x more young
    collections than RedisChatStore's, 78-80 -> 9-11 per 20k adds (2026-12-05, gc.get_count() over 500
    LixChatStore.add_message calls and gc.callbacks over 20k, real Redis, /tmp harnesses).

    Never changed once made (its ``n`` items) but for ``decoded`` (filled as codecs ask) and its status, which a
    window extended by an append of this process (`grown`) makes only when a reader asks for it: most appends are
    never read before the next one, and a frozen `ListStatus` per append was a quarter of the cache's per-append
    bookkeeping (2026-12-04, timeit of ``HotCache.appended``: 3.9 before, see `HotCache.appended`)."""

    __slots__ = ("_grown", "_status", "decoded", "n", "seqs", "values", "version")

    def __init__(
        self,
        version: str,
        status: ListStatus,
        items: tuple[tuple[int, bytes], ...] | list[tuple[int, bytes]],
        decoded: dict[object, list[Any]] | None = None,
    ) -> None:
        self.version = version
        self._status = status
        self.seqs: list[int] = [seq for seq, _ in items]
        self.values: list[bytes] = [value for _, value in items]
        self.n = len(self.seqs)
        self.decoded: dict[object, list[Any]] = {} if decoded is None else decoded
        #: (length, first_seq, last_seq, updated_at) of the status, when it is to be made from ``_status``.
        self._grown: tuple[int, int | None, int, float] | None = None

    @staticmethod
    def of(version: str, status: ListStatus, seqs: list[int], values: list[bytes]) -> Window[Any]:
        """A window of all of ``seqs`` and ``values`` (same length, lists it takes), without making pairs."""
        new: Window[Any] = Window.__new__(Window)
        new.version, new._status, new.seqs, new.values, new.n = version, status, seqs, values, len(seqs)
        new.decoded = {}
        new._grown = None
        return new

    @property
    def items(self) -> list[tuple[int, bytes]]:
        """The (seq, value) pairs, made anew for each caller. Not kept: pairs kept by the window once it was read
        were 21 objects the collector counted per window, and a benchmark's read phase, each window read once,
        then ran 31 young collections and a full one per 1000 reads (122 us a read in all, 2026-12-05,
        gc.callbacks, /tmp harness); pairs made and dropped per read cost ~1 us."""
        n = self.n
        return list(zip(self.seqs[:n], self.values[:n]))

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
        seqs: tuple[int, ...],
        values: tuple[bytes, ...],
        length: int,
        now: float,
    ) -> Window[M]:
        """A new window: this one and an append of ``seqs`` (``values``), added to the lists they share (this
        window still sees its first ``n`` only). Called once per window, by `HotCache.appended` under its lock."""
        n = self.n
        all_seqs, all_values = self.seqs, self.values
        if len(all_seqs) != n:  # extended already (not by HotCache): the new window gets lists of its own
            all_seqs, all_values = all_seqs[:n], all_values[:n]
        all_seqs += seqs
        all_values += values
        new: Window[M] = Window.__new__(Window)
        new.version, new._status, new.seqs, new.values = version, self._status, all_seqs, all_values
        new.n = len(all_seqs)
        new.decoded = {}
        grown = self._grown
        held = grown[1] if grown is not None else self._status.first_seq
        new._grown = (length, seqs[0] if held is None else held, seqs[-1], now)
        return new

    def messages(self, codec: MessageCodec[M], start: int) -> list[M]:
        """The items from ``start`` on as new ``codec`` objects: thawed from what the window keeps, or decoded
        (the first read: the decoded objects go to the caller, the window keeps ``codec.keep`` of them)."""
        kept = self.decoded.get(codec)
        n = self.n
        if kept is None:
            made = [codec.decode(value) for value in self.values[:n]]
            self.decoded[codec] = [codec.keep(m) for m in made]
            return made[start:]
        thaw_all = getattr(codec, "thaw_all", None)
        if thaw_all is not None:
            return thaw_all(kept[start:n])  # type: ignore[no-any-return]
        thaw = codec.thaw
        return [thaw(k) for k in kept[start:n]]


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
        if not self.limit or not window.version or window.n > self.limit:
            self.drop(key)
            return
        with self._lock:
            old = self._windows.pop(key, None)
            if old is not None:
                self._size -= old.n
            self._windows[key] = window
            self._size += window.n
            while self._size > self.limit:
                _, dropped = self._windows.popitem(last=False)
                self._size -= dropped.n

    def drop(self, key: str) -> None:
        with self._lock:
            old = self._windows.pop(key, None)
            if old is not None:
                self._size -= old.n

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
        if result.created:
            first, last = result.seqs[0], result.seqs[-1]
            status = ListStatus(len(values), first, last, last + 1, now, 0, archived_through)
            window: Window[Any] = Window.of(result.version, status, list(result.seqs), list(values))
            if objects is not None:
                window.decoded[objects[0]] = objects[1]
            self.put(key, window)
            return
        with self._lock:  # one pass under the lock: the window is taken out, extended and put back
            windows = self._windows
            old = windows.pop(key, None)
            if old is None:
                return
            self._size -= old.n
            if old.version != result.previous:
                return  # another client changed the list since this process last saw it: forgotten
            if old.n + len(values) > self.limit:
                return
            new: Window[Any] = old.grown(result.version, result.seqs, values, result.length, now)
            if objects is not None:
                kept = old.decoded.get(objects[0])
                if kept is not None:
                    if len(kept) != old.n:  # not this window's own list (see `grown`): a copy
                        kept = kept[: old.n]
                    kept += objects[1]
                    new.decoded[objects[0]] = kept
            windows[key] = new
            self._size += new.n
            while self._size > self.limit:
                _, dropped = windows.popitem(last=False)
                self._size -= dropped.n
