"""Which store a directory of session archives belongs to, so that two stores never share one.

Why: an archive file is named by its session id alone. Two stores given the same ``archive_dir`` (two Redis
prefixes or databases, two SQLite files) wrote the archives of their sessions of the same id into one file: a
session of one store then read the other's archived messages as its own, and its own spills went to that file
(session ``s1`` of store B read A0..A5 of store A and lost B0..B5; 2026-12-05). The default directories are
named after their store and never met this; a directory named by the user can.

A directory records its store in ``.owner.json``: the ids of the stores it was claimed for (a random id kept with
the store's settings) and digests of their addresses (`Backend.store_address`: a Redis URL with its password
redacted, a SQLite file's real path, a named ``memory://`` store's name with its host and process; a store of
one process alone, an anonymous ``memory://`` or ``sqlite:///:memory:``, has none and matches by its id only). A
store is the directory's if either matches, and the other is then added:

* the same store reached by another URL (another host name, other options), or a SQLite file moved with its
  archives, has the same id;
* a store that lost its settings (a Redis ``FLUSHALL``, a restart without persistence) has a new id, but the same
  address, and keeps its archives: the session tier's recovery continues their sessions after them. Not a
  ``memory://`` store of a new process: its address names the process, so that two live processes' stores of one
  name are told apart, and an earlier process's directory refuses it (remove the record to hand it over).

A store matching neither is refused with `ConfigError`, before any of its sessions touches the directory. A
directory written before this check has no record: the first store to open it claims it. A copy of a store (a
SQLite file copied as a template, a Redis prefix copied elsewhere) keeps its id, so copies sharing one directory
are not told apart: give each its own.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import BackendError, ConfigError
from .format import replace_file

__all__ = ["OWNER_FILE", "claim"]

OWNER_FILE = ".owner.json"
#: Ids and addresses kept per directory, at most (the oldest are dropped): a store whose settings were lost
#: many times, or reached by many URLs, still matches on the other one.
_KEPT = 16


def claim(directory: Path, store_id: str, address: str | None, label: str) -> None:
    """Record the store in ``directory`` (made if missing), or raise `ConfigError` if it holds another store's
    archives. ``address`` is ``None`` for a store of one process alone (it then matches by its id only); ``label``
    names the store in the error (a URL with its credentials redacted). The caller holds a lock that serializes
    claims of the directory across processes."""
    path = directory / OWNER_FILE
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ids, addresses = _read(path)
    except OSError as exc:
        raise BackendError(
            f"cannot read the owner of session archive directory {str(directory)!r}: {exc}"
        ) from exc
    if ids or addresses:
        if store_id not in ids and (address is None or address not in addresses):
            raise ConfigError(
                f"session archive directory {str(directory)!r} holds the archives of another store, not of "
                f"{label}: two stores given one "
                "archive_dir read and overwrite each other's archived sessions. Give each store its own "
                f"archive_dir. If this is the same store, remove {OWNER_FILE} from that directory to let it claim "
                "the archives."
            )
        if store_id in ids and (address is None or address in addresses):
            return
    _write(path, _added(ids, store_id), addresses if address is None else _added(addresses, address))


def _read(path: Path) -> tuple[list[str], list[str]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return [], []
    try:
        record = json.loads(raw)
        ids, addresses = record["ids"], record["addresses"]
        if not isinstance(ids, list) or not isinstance(addresses, list):
            raise TypeError("ids and addresses are not lists")
        if not all(isinstance(x, str) for x in (*ids, *addresses)):
            raise TypeError("not strings")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{str(path)!r} is not an archive directory's owner record ({exc}); remove it to let this store "
            "claim the directory"
        ) from exc
    return list(ids), list(addresses)


def _added(values: list[str], value: str) -> list[str]:
    return values if value in values else [*values, value][-_KEPT:]


def _write(path: Path, ids: list[str], addresses: list[str]) -> None:
    """Replace the record at once (a reader sees the old one or the new one, never a part)."""
    try:
        replace_file(path, json.dumps({"ids": ids, "addresses": addresses}, indent=1).encode(), suffix=".tmp")
    except OSError as exc:
        raise BackendError(
            f"cannot record the owner of session archive directory {str(path.parent)!r}: {exc}"
        ) from exc
