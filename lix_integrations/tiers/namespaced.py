"""Keys for records addressed by a namespace path plus a key (LangGraph's store items and node-cache entries).

A path ``("users", "u1", "memories")`` and key ``"k"`` become the KV record key ``users/u1/memories/|k``: every
label is percent-escaped for ``%``, ``/`` and ``|``, then ends with ``/``; ``|`` ends the path and the key follows
unescaped. So

* a path prefix is a key prefix that stops at a label boundary: ``("foo",)`` scans ``foo/`` and can never
  reach ``("foobar",)`` (``foobar/``), nor ``("foo|x",)`` (``foo%7Cx/``);
* an exact path is ``<encoded path>|``: ``("a",)`` with key ``"b/|c"`` cannot be confused with path
  ``("a", "b")``, because the first unescaped ``|`` ends the path;
* labels may hold any character but NUL (``:`` included, which the base Redis node cache mis-parses), and
  decoding gives back exactly the tuple stored.

Pure functions, tested without a backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import unquote

from ..errors import InvalidIdError

__all__ = [
    "MAX_RECORD_KEY_CHARS",
    "Path",
    "decode_record_key",
    "encode_path",
    "record_key",
    "validate_label",
    "validate_path",
]

Path = tuple[str, ...]

#: Longest record key (encoded path plus key); beyond it an id is refused, not truncated.
MAX_RECORD_KEY_CHARS = 4096
_ESCAPES = {"%": "%25", "/": "%2F", "|": "%7C"}


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no backend stores them faithfully
        return False
    return True


def validate_label(label: object, path: object = None) -> str:
    """One path label: a non-empty UTF-8 string without NUL."""
    if not isinstance(label, str) or not label:
        raise InvalidIdError(f"namespace labels must be non-empty strings, got {label!r} in {path!r}")
    if "\x00" in label or not _encodable(label):
        raise InvalidIdError(f"namespace label {label[:80]!r} contains a NUL character or a lone surrogate")
    return label


def validate_path(path: object) -> Path:
    """A tuple (or list) of labels as a tuple; the empty path is allowed (it is the prefix of every path)."""
    if not isinstance(path, (tuple, list)):
        raise InvalidIdError(f"a namespace must be a tuple of strings, got {type(path).__name__}")
    return tuple(validate_label(label, path) for label in path)


def _escape(label: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in label)


def encode_path(path: Sequence[str]) -> str:
    """The key prefix shared by every record under ``path`` (and under every path that extends it)."""
    if isinstance(path, tuple) and all(type(label) is str for label in path):
        return _encode_tuple(path)
    return _encode_tuple(validate_path(path))


@lru_cache(maxsize=4096)  # agents reuse a few namespaces for every operation; validating is the slow part
def _encode_tuple(path: Path) -> str:
    return "".join(_escape(label) + "/" for label in validate_path(path))


def record_key(path: Sequence[str], key: object) -> str:
    """The KV key of ``key`` under exactly ``path``."""
    if not isinstance(key, str):
        raise InvalidIdError(f"keys must be strings, got {type(key).__name__}")
    if "\x00" in key or not _encodable(key):
        raise InvalidIdError(f"key {key[:80]!r} contains a NUL character or a lone surrogate")
    out = encode_path(path) + "|" + key
    if len(out) > MAX_RECORD_KEY_CHARS:
        raise InvalidIdError(f"namespace and key are longer than {MAX_RECORD_KEY_CHARS} characters together")
    return out


def decode_record_key(raw: str) -> tuple[Path, str]:
    """The (path, key) a record key was built from."""
    head, sep, key = raw.partition("|")
    if not sep or (head and not head.endswith("/")):
        raise InvalidIdError(f"{raw[:80]!r} is not a namespaced record key")
    return _decode_path(head), key


@lru_cache(maxsize=4096)  # a scan meets the same few paths over and over; unquoting is the slow part
def _decode_path(head: str) -> Path:
    labels = head.split("/")[:-1] if head else []
    return tuple(unquote(label, errors="strict") if "%" in label else label for label in labels)
