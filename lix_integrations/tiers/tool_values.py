"""Pure parts of the tool tier: the canonical form of arguments (what the key is derived from), invalidation tags,
and the JSON envelope results are stored in. See `tools` for why each rule exists.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError, SerializationError
from ..kernel.keys import digest

__all__ = [
    "NOT_CACHED",
    "arg_tag",
    "canonical_arguments",
    "canonical_json",
    "decode_result",
    "encode_result",
    "tool_tag",
]

_ENVELOPE_VERSION = 1


class _NotCached:
    """The type of `NOT_CACHED`; one instance, compared with ``is``."""

    _instance: _NotCached | None = None

    def __new__(cls) -> _NotCached:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_CACHED"


#: What a lookup returns for a miss, so a tool that returned ``None`` is still a hit.
NOT_CACHED: Any = _NotCached()


# -- canonical arguments ----------------------------------------------------------------------------------------


def _canonical(value: Any, path: str) -> Any:
    """A JSON value equal for equal arguments: the heart of the key. ``path`` names the argument in errors."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return unicodedata.normalize("NFC", str.__str__(value))
    if isinstance(value, bool):  # a bool subclass that is not True/False: not JSON
        raise InvalidInputError(f"argument {path!r}: {type(value).__name__} is not JSON-representable")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"argument {path!r} is {value!r}; NaN and infinity cannot be cache keys")
        if value == 0.0:
            return 0
        if value.is_integer():
            return int(value)
        return float(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"argument {path!r} has a {type(key).__name__} key {key!r}; JSON objects take string keys"
                )
            norm = unicodedata.normalize("NFC", str.__str__(key))
            if norm in out:
                raise InvalidInputError(
                    f"argument {path!r} has two keys equal to {norm!r} after normalization"
                )
            out[norm] = _canonical(item, f"{path}.{norm}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidInputError(
        f"argument {path!r} of type {type(value).__name__} is not JSON-representable; convert it to "
        "str/int/float/bool/None/list/dict or exclude it from the key"
    )


def canonical_arguments(arguments: Mapping[str, Any], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The arguments in canonical form, the ``exclude`` names left out."""
    if not isinstance(arguments, Mapping):
        raise InvalidInputError(
            f"tool arguments must be a mapping of name -> value, got {type(arguments).__name__}"
        )
    skip = set(exclude)
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        if not isinstance(name, str):
            raise InvalidInputError(f"argument names must be strings, got {name!r}")
        if name in skip:
            continue
        out[unicodedata.normalize("NFC", name)] = _canonical(value, name)
    return out


def canonical_json(value: Any) -> str:
    """Deterministic JSON text of an already canonical value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def tool_tag(tool: str) -> str:
    return f"t={tool}"


def arg_tag(name: str, canonical_value: Any) -> str:
    # Not tool-specific, so a writer's argument matches a reader's argument of another tool.
    return "a=" + digest("arg", name, canonical_json(canonical_value))


# -- result encoding ----------------------------------------------------------------------------------------------


def _check_keys(value: Any, depth: int = 0) -> None:
    """``json`` would turn ``{1: x}`` into ``{"1": x}`` silently; a hit must not change a result's keys."""
    if depth > 200:
        raise ValueError("result is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"result has a {type(key).__name__} dict key {key!r}; JSON keys are strings")
            _check_keys(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_keys(item, depth + 1)


def encode_result(value: Any, duration: float, max_bytes: int) -> bytes:
    """The stored envelope; raises ``TypeError``/``ValueError`` for a value JSON cannot hold exactly."""
    _check_keys(value)
    kind = "tuple" if isinstance(value, tuple) else "json"
    body = list(value) if kind == "tuple" else value
    text = json.dumps(
        {"v": _ENVELOPE_VERSION, "t": kind, "r": body, "d": round(max(duration, 0.0), 6)},
        ensure_ascii=False,
        allow_nan=False,
        separators=(",", ":"),
    )
    raw = text.encode("utf-8")
    if len(raw) > max_bytes:
        raise ValueError(f"result is {len(raw)} bytes, over max_result_bytes={max_bytes}")
    return raw


def decode_result(raw: bytes) -> tuple[Any, float]:
    """(result, seconds the original call took) from a stored envelope; ``SerializationError`` if malformed."""
    try:
        env = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationError(f"stored tool result is not JSON: {exc}") from None
    if (
        not isinstance(env, dict)
        or env.get("v") != _ENVELOPE_VERSION
        or env.get("t") not in ("json", "tuple")
    ):
        raise SerializationError("stored tool result has an unknown envelope")
    duration = env.get("d", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        duration = 0.0
    body = env.get("r")
    if env["t"] == "tuple":
        if not isinstance(body, list):
            raise SerializationError("stored tuple result is not a list")
        body = tuple(body)
    return body, float(duration)
