"""LangGraph's serializer in strict mode, refusing (not silently degrading) what it will not revive.

``JsonPlusSerializer`` revives the classes named in stored bytes; in its default, permissive mode any importable
class (CVE-2026-28277). Strict mode (``allowed_msgpack_modules=None``) revives only LangGraph's allow-list of
safe types, but a blocked type comes back as a plain dict or list, so a tampered checkpoint would silently feed
an agent wrong state. :class:`StrictSerializer` listens for LangGraph's "blocked" events while it decodes and
raises :class:`~lix_integrations.errors.SerializationError` naming the type instead. Never pickle.

:class:`ItemMemo` keeps the serialized bytes of list items (chat messages) by object identity: LangGraph hands a
saver the whole message list at every step, and the messages already in it are the same objects as at the last
step, so only the new ones need serializing. An entry is reused only while the object still exists and its
top-level fields are the same objects (a message whose ``content`` or ``id`` was reassigned is serialized again);
nested in-place mutation (appending to a message's ``tool_calls`` list in place) is not detected, as LangGraph's
own state semantics assume values are replaced, not mutated.
"""

from __future__ import annotations

import contextvars
import threading
import weakref
from collections.abc import Collection
from typing import Any

from langgraph.checkpoint.serde.event_hooks import SerdeEvent, register_serde_event_listener
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from pydantic import BaseModel

from ..errors import SerializationError
from ..tiers.checkpoints import Typed

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


class ItemMemo:
    """Serialized list items by object identity (see the module docstring). Bounded; thread-safe."""

    def __init__(self, serde: Any, max_items: int = 200_000) -> None:
        self._serde = serde
        self._max = max_items
        self._lock = threading.Lock()
        self._items: dict[int, tuple[weakref.ref[Any], tuple[int, ...], Typed]] = {}

    def dumps(self, item: Any) -> Typed:
        if not isinstance(item, BaseModel):
            return Typed(*self._serde.dumps_typed(item))
        key = id(item)
        fields = vars(item)
        fingerprint = tuple(map(id, fields.values()))
        with self._lock:
            entry = self._items.get(key)
        if entry is not None and entry[0]() is item and entry[1] == fingerprint:
            return entry[2]
        typed = Typed(*self._serde.dumps_typed(item))
        try:
            ref = weakref.ref(item, self._drop(key))
        except TypeError:  # not weak-referenceable: never memoized
            return typed
        with self._lock:
            if len(self._items) >= self._max:
                self._items.clear()
            self._items[key] = (ref, fingerprint, typed)
        return typed

    def _drop(self, key: int) -> Any:
        def drop(ref: weakref.ref[Any]) -> None:
            with self._lock:
                entry = self._items.get(key)
                if entry is not None and entry[0] is ref:
                    del self._items[key]

        return drop
