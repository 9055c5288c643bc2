"""Why a SQLite store could not be opened, named by its real cause.

sqlite3 reports "unable to open database file" for a process out of file descriptors, a directory it may not
write and a missing path alike, and those were all reported as "corrupt or not SQLite" (issue 14, defect 4: a
service leaking descriptors was told its healthy ``c.db`` was corrupt). A file is called corrupt only when SQLite
says so (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``); otherwise the operating system is asked the same question (an
``open`` of the file, which reports EMFILE or EACCES as such) and its answer is named with the errno symbol.
"""

from __future__ import annotations

import errno
import os
import sqlite3

__all__ = ["describe_open_error", "describe_os_error"]

_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 3, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26

_CORRUPT_TEXT = ("file is not a database", "database disk image is malformed")

_ERRNO_TEXT = {
    errno.EMFILE: "the process has too many open files (EMFILE)",
    errno.ENFILE: "the system has too many open files (ENFILE)",
    errno.EACCES: "permission denied (EACCES)",
    errno.EPERM: "operation not permitted (EPERM)",
    errno.EROFS: "read-only file system (EROFS)",
    errno.ENOSPC: "no space left on device (ENOSPC)",
    errno.EDQUOT: "disk quota exceeded (EDQUOT)",
    errno.ENOENT: "no such file or directory (ENOENT)",
    errno.ENOTDIR: "a parent is not a directory (ENOTDIR)",
    errno.EISDIR: "the path is a directory (EISDIR)",
}


def _code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    return None if code is None else int(code) & 0xFF


def _os_error(path: str) -> OSError | None:
    """What the operating system says when the file (or, for a new store, its directory) is opened for writing."""
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        parent = os.path.dirname(os.path.abspath(path))
        try:
            fd = os.open(parent, os.O_RDONLY)
        except OSError as exc:
            return exc
        os.close(fd)
        if not os.access(parent, os.W_OK):
            return PermissionError(errno.EACCES, os.strerror(errno.EACCES), parent)
        return None
    except OSError as exc:
        return exc
    os.close(fd)
    return None


def _reason(code: int) -> str:
    return _ERRNO_TEXT.get(code, f"{os.strerror(code)} ({errno.errorcode.get(code, code)})")


def describe_os_error(path: str, exc: OSError) -> str:
    """A message for an OS error met while locating the store at ``path`` (a directory it may not read)."""
    if exc.errno is None:
        return f"cannot open SQLite store {path!r}: {exc}"
    return f"cannot open SQLite store {path!r}: {_reason(exc.errno)}: {exc}"


def describe_open_error(path: str, exc: sqlite3.Error) -> str:
    """A message for a failure to open or initialize the store at ``path``, naming its cause."""
    code = _code(exc)
    text = str(exc)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or (code is None and any(t in text for t in _CORRUPT_TEXT)):
        return f"{path!r} is not a usable lix SQLite store (corrupt or not SQLite): {exc}"
    if code == _SQLITE_FULL:
        return f"cannot open SQLite store {path!r}: no space left on device (ENOSPC): {exc}"
    found = _os_error(path)
    if found is not None and found.errno is not None:
        return f"cannot open SQLite store {path!r}: {_reason(found.errno)}: {exc}"
    if code in (_SQLITE_PERM, _SQLITE_READONLY):
        return f"cannot open SQLite store {path!r}: permission denied or read-only (EACCES): {exc}"
    return f"cannot open SQLite store {path!r}: {exc}"
