"""LangGraph's serializer in strict mode, refusing (not silently degrading) what it will not revive.

``JsonPlusSerializer`` revives the classes named in stored bytes; in its default, permissive mode any importable
class (CVE-2026-28277). Strict mode (``allowed_msgpack_modules=None``) revives only LangGraph's allow-list of
safe types, but a blocked type comes back as a plain dict or list, so a tampered checkpoint would silently feed
an agent wrong state. `StrictSerializer` listens for LangGraph's "blocked" events while it decodes and
raises `SerializationError` naming the type instead. Never pickle.

`ItemMemo` keeps the serialized bytes of list items (chat messages) by object identity: LangGraph hands a
saver the whole message list at every step, and the messages already in it are the same objects as at the last
step (or the copies this saver returned when the turn began), so only the new ones need serializing. An entry is
reused only for an object of the remembered type whose top-level fields and extras still equal a snapshot taken
when it was serialized (a message whose ``content`` or ``id`` was reassigned another value is serialized again);
nested in-place mutation (appending to a message's ``tool_calls`` list in place) is not detected, as LangGraph's
own state semantics assume values are replaced, not mutated.

It also keeps decoded messages by their stored bytes: a thread's messages are read back at every turn, and
reviving a message (msgpack, allow-list check, pydantic validation) costs about 27 us where a copy of an already
revived one costs about 1.3 us (measured 2026-12-04 on this machine, a 230-word ``AIMessage``). Every read gets
its own shallow copy (``model_copy()``), so reassigning a field of a returned message never reaches another
read; mutating a nested list or dict of a returned message in place would, within this process.
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Collection
from typing import Any

from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from ..engine.public import Typed
from ..errors import SerializationError

__all__ = ["ItemMemo", "StrictSerializer", "strict_serializer"]

_blocked: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("lix_serde_blocked", default=None)
_registered = False
_register_lock = threading.Lock()


def _listen(event: SerdeEvent) -> None:
    found = _blocked.get()
    if found is not None and event.get("kind", "").endswith("blocked"):
        found.append(f"{event.get('module')}.{event.get('name')}")


def _ensure_listener() -> None:
    global _registered
    with _register_lock:
        if not _registered:
            register_serde_event_listener(_listen)
            _registered = True


class StrictSerializer(JsonPlusSerializer):
    """``JsonPlusSerializer`` with only allow-listed types revived; anything else raises ``SerializationError``."""

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        found: list[str] = []
        token = _blocked.set(found)
        try:
            value = super().loads_typed(data)
        except NotImplementedError as exc:  # e.g. "pickle": never revived from a store
            raise SerializationError(f"refused a stored value: {exc}") from None
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(
                f"a stored checkpoint value could not be decoded ({type(exc).__name__}): it is corrupt or was "
                "tampered with"
            ) from None
        finally:
            _blocked.reset(token)
        if found:
            raise SerializationError(
                f"refused a stored checkpoint value naming {', '.join(sorted(set(found)))}, which is not on the "
                "serializer's allow-list (tampered data, or a type to allow with saver.with_allowlist(...))"
            )
        return value


def strict_serializer(extra_allowlist: Collection[tuple[str, ...]] = ()) -> StrictSerializer:
    _ensure_listener()
    serde = StrictSerializer(allowed_msgpack_modules=None, allowed_json_modules=None, pickle_fallback=False)
    if extra_allowlist:
        serde = serde.with_msgpack_allowlist(extra_allowlist)  # type: ignore[assignment]
    return serde


_set = object.__setattr__


def _copy(model: BaseModel, new_object: Any = object.__new__) -> BaseModel:
    """``model.model_copy()`` (a shallow copy) without pydantic's generic path: 1.5 us instead of 3.3 us for a
    message (2026-12-04, timeit on this machine), and a read copies every message of the thread."""
    if model.__pydantic_private__ is not None:
        return model.model_copy()
    new: BaseModel = new_object(model.__class__)
    _set(new, "__dict__", model.__dict__.copy())
    _set(new, "__pydantic_fields_set__", model.__pydantic_fields_set__.copy())
    extra = model.__pydantic_extra__
    _set(new, "__pydantic_extra__", None if extra is None else extra.copy())
    _set(new, "__pydantic_private__", None)
    return new


_UNREAD: Any = object()  # an item of a list this process wrote, not revived from its bytes yet
#: what is remembered of a message object, by its id: its type, its top-level fields and extras as they were
#: serialized (for a copy: those of the original it copies, which no caller ever sees), its bytes, the original
_Entry = tuple[type[BaseModel], dict[str, Any], Any, Typed, "BaseModel | None"]


class _List:
    """A tuple of items the tier handed back (or a put wrote), the messages revived from it (`_UNREAD` where not
    yet, ``None`` for an item that is not a model) and the `_Entry` of each revived one (shared by every read of
    the tuple; a put passes on the entries of the copies it found, so a read builds only those of new items)."""

    __slots__ = ("entries", "items", "originals", "plain", "unread")

    def __init__(self, items: tuple[Typed, ...], originals: list[Any], entries: list[_Entry | None]) -> None:
        self.items, self.originals, self.entries = items, originals, entries
        self.unread = [i for i, m in enumerate(originals) if m is _UNREAD]
        self.plain = False  # some item is not a model


class ItemMemo:
    """Serialized list items by object identity, decoded ones by bytes (see the module docstring). Bounded;
    thread-safe.

    A remembered object's bytes are reused when the object found under its id has the remembered type and its
    top-level fields and extras equal the remembered ones (C-level comparisons that short-cut on identity): then it
    serializes to the same bytes whatever object it is, so entries need no weak reference, and a read remembers
    its copies by one ``dict.update`` of shared entries. That matters because of Python's cyclic collector
    (measured 2026-12-04 with /tmp scripts running benchmarks/langgraph.py's workload): a weak reference and a
    tuple per copy left ~80,000 more tracked objects after 8 threads (236k instead of 156k in the process), and
    the full collections, 300-450 ms each on the loaded machine, landed in reads.
    Entries of dead objects are dropped a generation at a time (the newer half is kept).
    Decoded messages are kept per tuple of items the tier hands back (the tier returns the same tuple for a
    manifest it has resolved or written before), so a read is one copy per message: the tuple a put wrote
    already knows the messages its list held that were copies of revived ones, and revives only the new ones.
    """

    def __init__(
        self, serde: Any, max_items: int = 100_000, max_decoded: int = 10_000, max_lists: int = 256
    ) -> None:
        self._serde = serde
        self._max = max_items
        self._lock = threading.Lock()
        self._items: dict[int, _Entry] = {}
        self._older: dict[int, _Entry] = {}
        self._max_decoded = max_decoded
        self._decoded: OrderedDict[tuple[str, bytes], BaseModel] = OrderedDict()
        self._max_lists = max_lists
        self._lists: OrderedDict[int, _List] = OrderedDict()  # by id(tuple); the entry holds the tuple

    def _original(self, item: Typed) -> BaseModel | None:
        """The message revived from ``item`` (never handed out), or ``None`` for an item that is not a model."""
        key = (item.type, item.data)
        with self._lock:
            model = self._decoded.get(key)
            if model is not None:
                self._decoded.move_to_end(key)
                return model
        value = self._serde.loads_typed(key)
        if not isinstance(value, BaseModel):
            return None
        with self._lock:
            self._decoded[key] = value
            if len(self._decoded) > self._max_decoded:
                self._decoded.popitem(last=False)
        return value

    def _keep_list(self, entry: _List) -> None:
        with self._lock:
            self._lists[id(entry.items)] = entry
            self._lists.move_to_end(id(entry.items))
            if len(self._lists) > self._max_lists:
                self._lists.popitem(last=False)

    def _remember(self, pairs: Any) -> None:
        """Add (id, entry) pairs; past half the bound the newer generation becomes the older one."""
        with self._lock:
            self._items.update(pairs)
            if len(self._items) > self._max // 2:
                self._older, self._items = self._items, {}

    def _found(self, item: Any) -> _Entry | None:
        entry = self._items.get(id(item)) or self._older.get(id(item))
        if (
            entry is not None
            and type(item) is entry[0]
            and item.__dict__ == entry[1]
            and item.__pydantic_extra__ == entry[2]
        ):
            return entry
        return None

    def loads_list(self, items: tuple[Typed, ...]) -> list[Any]:
        """A list value read back: copies of the messages revived earlier from the same bytes, new ones else."""
        with self._lock:
            known = self._lists.get(id(items))
            if known is not None and known.items is not items:
                known = None
        if known is None:
            known = _List(items, [_UNREAD] * len(items), [None] * len(items))
            self._keep_list(known)
        originals, entries = known.originals, known.entries
        if known.unread:
            for i in known.unread:
                model = originals[i] = self._original(items[i])
                if model is None:
                    known.plain = True
                else:
                    entries[i] = (type(model), model.__dict__, model.__pydantic_extra__, items[i], model)
            known.unread = []
        if known.plain:  # items that are not models are revived each time, and not remembered
            out = [
                self._serde.loads_typed((item.type, item.data)) if m is None else _copy(m)
                for m, item in zip(originals, items)
            ]
            self._remember((id(c), e) for c, e in zip(out, entries) if e is not None)
            return out
        out = list(map(_copy, originals))
        # the copies go back into the graph: their next put reuses these bytes while their fields are unchanged
        self._remember(zip(map(id, out), entries))
        return out

    def dumps_list(self, items: list[Any]) -> tuple[Typed, ...]:
        """A list value to store: the bytes of items serialized before (alive and unchanged), new bytes else."""
        with self._lock:
            found = [self._found(item) for item in items]
        out = tuple(self.dumps(items[i]) if e is None else e[3] for i, e in enumerate(found))
        originals = [_UNREAD if e is None or e[4] is None else e[4] for e in found]
        self._keep_list(_List(out, originals, [None if e is None or e[4] is None else e for e in found]))
        return out

    def dumps(self, item: Any) -> Typed:
        typed = Typed(*self._serde.dumps_typed(item))
        if isinstance(item, BaseModel):
            extra = item.__pydantic_extra__
            entry = (type(item), dict(item.__dict__), None if extra is None else dict(extra), typed, None)
            self._remember(((id(item), entry),))
        return typed
