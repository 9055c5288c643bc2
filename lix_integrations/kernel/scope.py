"""Scopes keep one user's, session's or tenant's cache entries away from every other's.

An adapter may carry a fixed scope (``LixSemanticCache(scope="tenant-a")``) and a request may add its own with
``with lix_scope("user:42"):``. The two nest instead of overriding each other: an adapter fixed to tenant A can
never be steered into tenant B's entries by a request-level scope.

One rule for every scope a user writes, in the API and in the ``lix`` command alike: a scope is one name or names
nested with ``/`` (``"tenant-b"``, ``"tenant-b/user-1"``), each name non-empty, without control characters, at
most 256 characters. ``scope="tenant-b/user-1"`` is the same scope as ``scope="tenant-b"`` with
``lix_scope("user-1")`` inside it, and what ``lix inspect`` shows can be passed back as it is.

**No user scope is "no scope".** Entries stored without a scope carry the internal value `UNSCOPED`
(``"global"``, the value every store written so far holds, so those entries stay readable unscoped). A scope a
user writes is stored *encoded*, one name at a time: a name that is a reserved word of the key scheme
(``global``), or that starts with a reserved prefix (``run:``, which the tool tier appends for run-scoped calls,
and ``~``, the escape itself), is stored with a ``~`` in front; every other name is stored as written. The
encoding is one-to-one, so ``scope="global"`` is a scope of its own and never reads, overwrites or clears the
unscoped entries (issue 14, defect 3: a tenant named ``global`` did all three), and stores written before keep
every scope whose names are not reserved. `resolve_scope` gives the stored form, `scope_key`
encodes a user's scope, `scope_label` decodes a stored one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import InvalidIdError

__all__ = [
    "GLOBAL_SCOPE",
    "RESERVED_SCOPE_NAMES",
    "RESERVED_SCOPE_PREFIXES",
    "UNSCOPED",
    "current_scope",
    "lix_scope",
    "resolve_scope",
    "scope_key",
    "scope_label",
    "scope_path",
    "validate_scope",
    "validate_scope_part",
]

#: The stored scope of entries written without one; internal (no user scope encodes to it).
UNSCOPED = "global"
GLOBAL_SCOPE = UNSCOPED  # the name this had before scopes were encoded
#: Names and name prefixes of the key scheme a user's scope name is escaped from (see the module docstring).
RESERVED_SCOPE_NAMES = frozenset({UNSCOPED})
RESERVED_SCOPE_PREFIXES = ("~", "run:")
_ESCAPE = "~"
_MAX_SCOPE_PART = 256

_scope_parts: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("lix_scope", default=())


def validate_scope_part(part: object) -> str:
    """One name of a scope (no ``/``): reject names that could not be told apart once joined or that carry
    control characters. User-given scopes go through `validate_scope`, which allows nesting."""
    if not isinstance(part, str) or not part:
        raise InvalidIdError(f"scope must be a non-empty string, got {part!r}")
    if len(part) > _MAX_SCOPE_PART:
        raise InvalidIdError(f"scope is longer than {_MAX_SCOPE_PART} characters")
    if "/" in part or any(ord(ch) < 32 or ch == "\x7f" for ch in part):
        raise InvalidIdError(f"scope {part!r} contains '/' or a control character")
    try:
        part.encode("utf-8")
    except UnicodeEncodeError:  # SQLite and Redis store UTF-8: it would fail inside the store instead
        raise InvalidIdError(f"scope {part!r} contains a lone surrogate and cannot be stored") from None
    return part


def validate_scope(scope: object) -> str:
    """A scope as users write it: one name, or names nested with ``/`` (``"tenant-b/user-1"``), each a valid part."""
    if not isinstance(scope, str) or not scope:
        raise InvalidIdError(f"scope must be a non-empty string, got {scope!r}")
    for part in scope.split("/"):
        if not part:
            raise InvalidIdError(f"scope {scope[:80]!r} has an empty name between slashes")
        validate_scope_part(part)
    return scope


@contextmanager
def lix_scope(*parts: str) -> Iterator[str]:
    """Run the block inside a scope (nested inside any scope already active); yields the effective scope.

    ``lix_scope("tenant-b", "user-1")`` and ``lix_scope("tenant-b/user-1")`` are the same scope.
    """
    for part in parts:
        validate_scope(part)
    token = _scope_parts.set(_scope_parts.get() + tuple(parts))
    try:
        yield current_scope()
    finally:
        _scope_parts.reset(token)


def current_scope() -> str:
    """The scope set by enclosing `lix_scope` blocks as written (``"global"`` when none is set; for display:
    the stored form is `resolve_scope`'s)."""
    parts = _scope_parts.get()
    return "/".join(parts) if parts else GLOBAL_SCOPE


def _encode_name(name: str) -> str:
    if name in RESERVED_SCOPE_NAMES or name.startswith(RESERVED_SCOPE_PREFIXES):
        return _ESCAPE + name
    return name


def scope_key(scope: str) -> str:
    """The stored form of a scope a user wrote (validated): each name escaped from the reserved words."""
    return "/".join(_encode_name(name) for name in validate_scope(scope).split("/"))


def scope_label(stored: str) -> str:
    """A stored scope as the user wrote it (``""`` for entries stored without one); inverse of `scope_key`."""
    if stored == UNSCOPED:
        return ""
    return "/".join(name[1:] if name.startswith(_ESCAPE) else name for name in stored.split("/"))


def scope_path(fixed: str | None) -> str | None:
    """An adapter's fixed scope nested with the request scope, as written, or ``None`` when there is neither."""
    parts: tuple[str, ...] = ((validate_scope(fixed),) if fixed is not None else ()) + _scope_parts.get()
    return "/".join(parts) if parts else None


def resolve_scope(fixed: str | None) -> str:
    """Combine an adapter's fixed scope with the request scope (both narrow, neither widens), in stored form:
    `UNSCOPED` when there is neither, else the names encoded by `scope_key`."""
    path = scope_path(fixed)
    return UNSCOPED if path is None else scope_key(path)
