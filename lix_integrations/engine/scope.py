"""Scopes keep one user's, session's or tenant's cache entries away from every other's.

An adapter may carry a fixed scope (``LixSemanticCache(scope="tenant-a")``) and a request may add its own with
``with lix_scope("user:42"):``. The two nest instead of overriding each other: an adapter fixed to tenant A can
never be steered into tenant B's entries by a request-level scope.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import InvalidIdError

__all__ = ["GLOBAL_SCOPE", "current_scope", "lix_scope", "resolve_scope", "validate_scope_part"]

GLOBAL_SCOPE = "global"
_MAX_SCOPE_PART = 256

_scope_parts: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("lix_scope", default=())


def validate_scope_part(part: object) -> str:
    """Reject scope names that could not be told apart once joined (``/``) or that carry control characters."""
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


@contextmanager
def lix_scope(*parts: str) -> Iterator[str]:
    """Run the block inside a scope (nested inside any scope already active); yields the effective scope."""
    for part in parts:
        validate_scope_part(part)
    token = _scope_parts.set(_scope_parts.get() + tuple(parts))
    try:
        yield current_scope()
    finally:
        _scope_parts.reset(token)


def current_scope() -> str:
    """The scope set by enclosing :func:`lix_scope` blocks, or the global scope."""
    parts = _scope_parts.get()
    return "/".join(parts) if parts else GLOBAL_SCOPE


def resolve_scope(fixed: str | None) -> str:
    """Combine an adapter's fixed scope with the request scope; both narrow, neither widens."""
    parts: tuple[str, ...] = ((validate_scope_part(fixed),) if fixed is not None else ()) + _scope_parts.get()
    return "/".join(parts) if parts else GLOBAL_SCOPE
