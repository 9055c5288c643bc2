"""Every error lix-integrations raises on purpose derives from `LixError`.

The tree, so callers can catch as broadly or narrowly as they need:

    LixError
     +-- ConfigError               bad URL or scheme, missing directory, bad option value
     +-- InvalidInputError (ValueError)
     |    +-- InvalidPromptError   non-string, empty or oversized prompt
     |    +-- InvalidVectorError   wrong dimension, NaN or infinite components
     |    +-- InvalidIdError       an id that cannot become a key or a path
     +-- SettingsMismatchError     the store was written with another embedder,
     |                             dimension, metric or serializer
     +-- BackendError              the store failed (I/O, corrupt file, lost connection)
     +-- SerializationError        a stored payload could not be decoded safely

``InvalidInputError`` also subclasses `ValueError` because frameworks (and users) already catch
``ValueError`` for bad arguments; wrapping it would hide the message they expect.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "InvalidIdError",
    "InvalidInputError",
    "InvalidPromptError",
    "InvalidVectorError",
    "LixError",
    "SerializationError",
    "SettingsMismatchError",
]


class LixError(Exception):
    """Base of every error raised on purpose by lix-integrations."""


class ConfigError(LixError):
    """A configuration value (URL, option, environment variable) cannot be used."""


class InvalidInputError(LixError, ValueError):
    """An argument was rejected before anything was read or written."""


class InvalidPromptError(InvalidInputError):
    """A prompt is not a non-empty string within the configured size limit."""


class InvalidVectorError(InvalidInputError):
    """An embedding has the wrong dimension or non-finite components.

    ``cause`` names the problem (``nan_or_inf``, ``wrong_dimension``, ``empty``, ``zero``, ``invalid``); when a
    model produced the vector, ``output`` is what it returned (the embedding wrappers hand it back under
    ``fail_open``).
    """

    def __init__(self, message: str, *, cause: str = "invalid", output: object = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.output = output


class InvalidIdError(InvalidInputError):
    """An id (scope, session, namespace) cannot safely become a key or a path."""


class SettingsMismatchError(LixError):
    """The store was written with settings that differ from the ones requested.

    Reading such a store would silently compare vectors of different models, so we refuse and name the field.
    """

    def __init__(self, field: str, stored: object, requested: object) -> None:
        self.field = field
        self.stored = stored
        self.requested = requested
        super().__init__(
            f"stored setting {field!r} is {stored!r} but {requested!r} was requested; "
            f"use another namespace or store, or clear this one"
        )


class BackendError(LixError):
    """The storage backend failed; the original exception is chained as ``__cause__``.

    ``unavailable`` is true when the store could not be reached or did not answer in time (a later call may
    succeed): an engine opened while its store is down then starts as a miss-only cache instead of failing.
    """

    def __init__(self, *args: object, unavailable: bool = False) -> None:
        super().__init__(*args)
        self.unavailable = unavailable


class SerializationError(LixError):
    """A stored payload could not be decoded with the allowed types."""
