"""The file a ``sqlite:///`` URL names, checked before anything opens it."""

from __future__ import annotations

from pathlib import Path

from ..errors import BackendError, ConfigError
from .sqlite_errors import describe_os_error

__all__ = ["path_from_url"]


def path_from_url(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` (as SQLAlchemy spells them) or ``sqlite:///:memory:``."""
    if not url.lower().startswith("sqlite:///"):
        raise ConfigError(f"SQLite URL must start with sqlite:/// (then the file path), got {url!r}")
    path = url[len("sqlite:///") :]
    if not path:
        raise ConfigError("SQLite URL has no file path: use sqlite:///path/to/cache.db")
    if path == ":memory:":
        return path
    if "?" in path or "#" in path:
        raise ConfigError(f"SQLite URL must not carry a query string or fragment: {url!r}")
    parent = Path(path).expanduser().parent
    try:
        is_dir = parent.is_dir()
    except OSError as exc:  # e.g. EACCES on a directory above it: named, not a bare PermissionError
        raise BackendError(describe_os_error(path, exc)) from exc
    if not is_dir:
        raise ConfigError(
            f"directory {str(parent)!r} of SQLite store {path!r} does not exist; create it first"
        )
    return str(Path(path).expanduser())
