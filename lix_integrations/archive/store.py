"""One directory of session archives: file names from encoded ids, per-session locks across processes.

File names never contain a session id as given (lix-open-cache wrote ``{session_id}.huff``, so ``../x`` landed
outside its directory): every byte outside ``[a-z0-9_-]`` is percent-encoded, uppercase letters included, so two
ids can never share a name even on a case-insensitive file system, and a name has no ``/``, ``.``, ``:``, ``*`` or
NUL. Ids whose encoding would exceed file-name limits get a digest name; the id itself is in the file header.

Archive writes of one session are serialized across processes by an exclusive ``flock`` on one of 256 lock files
(chosen by a hash of the name; never deleted, so no lock can be taken on an unlinked file), and within a process
by a hold on the session itself: sessions of one stripe locked at once by one process share its ``flock`` (one
descriptor, counted), so two sessions never wait for each other there, only for another process.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from pathlib import Path

from ..errors import BackendError
from .codec import Codec
from .format import ArchiveContents, ArchiveMeta, append_frame, read_archive, read_meta, write_archive
from .owner import claim

try:  # POSIX only; see SessionArchive.try_lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SUFFIX", "SessionArchive", "archive_name", "session_from_name"]

SUFFIX = ".lxa"
#: Every byte of a name but ``[a-z0-9_-]`` is percent-encoded: one regex pass (a generator over each byte cost
#: 3.4 against 1.2 us for a chat session's id, paid once per new session: 2026-12-05, timeit, loaded machine).
_UNSAFE = re.compile(rb"[^a-z0-9_-]")
_MAX_NAME = 200


def _percent(match: re.Match[bytes]) -> bytes:
    return b"%%%02X" % match.group()[0]


@lru_cache(maxsize=4096)
def archive_name(session_id: str) -> str:
    """The file name of a session's archive (reversible by `session_from_name` unless digest-named). Memoized: a
    new session's first append names it four times (lock, unlock, the existence check; 1.7 us each)."""
    raw = session_id.encode("utf-8", "surrogatepass")
    name = _UNSAFE.sub(_percent, raw).decode("ascii")
    if not name or len(name) > _MAX_NAME:
        name = "h-" + hashlib.blake2b(raw, digest_size=16).hexdigest()
    return name + SUFFIX


def session_from_name(name: str) -> str | None:
    """The session id a percent-encoded archive file name stands for (``None`` for digest names)."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    if stem.startswith("h-") or not stem:
        return None
    out = bytearray()
    i = 0
    while i < len(stem):
        if stem[i] == "%":
            out.append(int(stem[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(stem[i]))
            i += 1
    return out.decode("utf-8", "surrogatepass")


#: Every archive of this process, for the fork hooks below; those held by the fork under way.
_ARCHIVES: weakref.WeakSet[SessionArchive] = weakref.WeakSet()
_forking: list[SessionArchive] = []


def _before_fork() -> None:
    """Each archive's table of lock descriptors held over the fork, so the child's copy matches its descriptors
    (no lock being taken or given back half way)."""
    for archive in list(_ARCHIVES):
        archive._fd_lock.acquire()
        _forking.append(archive)


def _after_fork(child: bool) -> None:
    while _forking:
        archive = _forking.pop()
        if child:
            archive._leave_parents_locks()
        archive._fd_lock.release()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=lambda: _after_fork(False),
        after_in_child=lambda: _after_fork(True),
    )


def _close_copy(fd: int) -> None:
    """Close a forked child's copy of its parent's lock descriptor: never ``LOCK_UN``, which would let go of the
    parent's lock (the copy shares it)."""
    try:
        os.close(fd)
    except OSError:
        pass


def _release(fd: int) -> None:
    """Let go of a lock: ``LOCK_UN`` first, which releases it whatever copies of the descriptor a forked child
    still has open (closing alone leaves the lock to the last copy), then close."""
    try:
        if fcntl is not None:  # pragma: no branch
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class SessionArchive:
    """The archives of one namespace in one directory (created on first write)."""

    def __init__(self, directory: Path, codec: Codec = Codec.ZSTD_DICT_V1) -> None:
        self.directory = directory
        #: The directory and its lock directory as strings: a ``Path`` join per call was a third of a new
        #: session's existence check and lock (2026-12-04, timeit).
        self._dir = os.fspath(directory)
        self._lock_dir = os.path.join(self._dir, ".locks")
        self.codec = codec
        #: stripe -> [pid, fd, sessions holding it] of a flock this process holds now (fd -1: no flock here)
        self._lock_fds: dict[int, list[int]] = {}
        #: archive name -> pid of the sessions locked now; a forked child's inherited holds are its parent's
        self._held: dict[str, int] = {}
        #: Descriptors of the owner lock this process holds now (`try_lock_owner`): a claim under way.
        self._owner_fds: set[int] = set()
        #: Re-entrant: a fork holds it (see `_before_fork`), and a garbage collection in the forking thread may
        #: close an engine, and this archive, before the fork's hooks are done.
        self._fd_lock = threading.RLock()
        #: Times `close` ran: a lock taken across one (a collection's finalizer closing the engine inside
        #: `try_lock`, on the same thread) is given back rather than kept in a closed archive.
        self._closes = 0
        _ARCHIVES.add(self)

    def _leave_parents_locks(self) -> None:
        """In a forked child, at the fork: the lock descriptors are the parent's. A ``flock`` lives as long as
        any descriptor of it is open, so the child's inherited copy kept a stripe locked after the parent let it
        go, for every process, the child included, until the child exited: spills and new sessions of that stripe
        waited for ever. The child closes its copies (never ``LOCK_UN``: that would let go of the parent's lock,
        which the copy shares) and forgets the parent's holds; the parent's own unlock releases with ``LOCK_UN``
        too, whatever copies remain (see `_release`)."""
        for _, fd, _ in self._lock_fds.values():
            if fd >= 0:
                _close_copy(fd)
        for fd in self._owner_fds:  # the owner lock of a claim under way in the parent: its own to release
            _close_copy(fd)
        self._lock_fds.clear()
        self._held.clear()
        self._owner_fds.clear()

    def path(self, session_id: str) -> Path:
        return self.directory / archive_name(session_id)

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    # -- locking ---------------------------------------------------------------------------------------------

    @staticmethod
    def _stripe(name: str) -> int:
        return hashlib.blake2b(name.encode(), digest_size=2).digest()[0]

    def _open_lock(self, stripe: int) -> int:
        path = os.path.join(self._lock_dir, f"{stripe:02x}.lock")
        try:  # the directory exists but the first time: no mkdir call on every lock
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            os.makedirs(self._lock_dir, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def try_lock(self, session_id: str) -> bool:
        """Take the session's archive lock if free (never blocks, so an event loop can poll it).

        The lock file is opened here and closed by `unlock` of the stripe's last session: descriptors are held
        only while a lock is, never one per stripe for the archive's lifetime (up to 256 per engine, which
        exhausted a service's descriptors; issue 14). Opening per lock also keeps a forked child off its
        parent's locks. Another session of a stripe this process holds shares its ``flock``: a stripe held per
        session made about one new session in five of 50 concurrent conversations wait half a millisecond
        for another one's append (256 stripes), and its later appends went out in packets of their own
        (2026-12-05, auto-pipeline batch sizes in benchmarks/redis_chat.py's async adds).
        """
        name = archive_name(session_id)
        stripe = self._stripe(name)
        pid = os.getpid()
        with self._fd_lock:  # one system call at most under it: open and flock, which never waits
            closes = self._closes
            if self._held.get(name) == pid:
                return False
            held = self._lock_fds.get(stripe)
            if held is None or held[0] != pid:
                fd = -1
                if fcntl is not None:  # pragma: no branch - no cross-process lock without flock (Windows)
                    taken = self._flocked(partial(self._open_lock, stripe), "lock")
                    if taken is None:
                        return False
                    fd = taken
                held = self._lock_fds[stripe] = [pid, fd, 0]
                if closes != self._closes:  # closed meanwhile (see _closes): nothing is kept
                    del self._lock_fds[stripe]
                    if fd >= 0:
                        _release(fd)
                    raise BackendError(f"the session archive in {str(self.directory)!r} was closed")
            held[2] += 1
            self._held[name] = pid
        return True

    def unlock(self, session_id: str) -> None:
        name = archive_name(session_id)
        stripe = self._stripe(name)
        pid = os.getpid()
        with self._fd_lock:
            if self._held.get(name) == pid:
                del self._held[name]
            held = self._lock_fds.get(stripe)
            if held is not None and held[0] == pid:
                held[2] -= 1
                if held[2] <= 0:
                    del self._lock_fds[stripe]
                    if held[1] >= 0:
                        _release(held[1])

    @contextmanager
    def locked(self, session_id: str) -> Iterator[None]:
        """Blocking form of the lock, for maintenance run from one thread."""
        import time

        delay = 0.001
        while not self.try_lock(session_id):
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            self.unlock(session_id)

    def claim(self, store_id: str, address: str | None, label: str) -> None:
        """Record the store as this directory's owner, or raise `ConfigError` if the directory holds another
        store's archives (`owner.claim`, which see). The caller holds the owner lock (`try_lock_owner`)."""
        claim(self.directory, store_id, address, label)

    def try_lock_owner(self) -> int | None:
        """Take the directory's owner lock, a file of its own that no session's lock shares, if free (never
        blocks): its descriptor for `unlock_owner` (-1 where there is no ``flock``), or ``None`` if taken."""
        if fcntl is None:  # pragma: no cover - Windows: no cross-process lock, as for the sessions' archives
            return -1
        with self._fd_lock:  # recorded for the fork hook (`_leave_parents_locks`), as the session locks are
            fd = self._flocked(self._open_owner_lock, "owner lock")
            if fd is not None:
                self._owner_fds.add(fd)
            return fd

    def _open_owner_lock(self) -> int:
        path = os.path.join(self._lock_dir, "owner.lock")
        try:  # the directory exists but the first time (as `_open_lock`)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            os.makedirs(self._lock_dir, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def _flocked(self, open_lock: Callable[[], int], what: str) -> int | None:
        """A lock file opened by ``open_lock`` and locked if free (never blocks): its descriptor, or ``None``."""
        try:
            fd = open_lock()
        except OSError as exc:  # EMFILE, EACCES...: named by the OS error, as a store failure
            raise BackendError(f"cannot open the archive {what} in {str(self.directory)!r}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def unlock_owner(self, fd: int) -> None:
        with self._fd_lock:
            if fd in self._owner_fds:  # (a forked child closed its copy at the fork)
                self._owner_fds.discard(fd)
                _release(fd)

    def close(self) -> None:
        """Close the descriptors of locks still held (an engine closed in the middle of a spill)."""
        with self._fd_lock:
            self._closes += 1
            for pid, fd, _ in self._lock_fds.values():
                if fd < 0:
                    continue
                if pid == os.getpid():
                    _release(fd)
                else:
                    _close_copy(fd)
            self._lock_fds.clear()
            self._held.clear()

    # -- reading ---------------------------------------------------------------------------------------------

    def meta(self, session_id: str) -> ArchiveMeta | None:
        return read_meta(self.path(session_id))

    def exists(self, session_id: str) -> bool:
        """Whether the session has an archive file: one ``stat``, cheap enough to run on an event loop (like
        `try_lock`), so a new session's first append needs no worker thread. An archive that cannot be
        examined counts as present: reading it then reports why."""
        try:
            os.stat(os.path.join(self._dir, archive_name(session_id)))
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return True

    def read(self, session_id: str) -> ArchiveContents | None:
        return read_archive(self.path(session_id))

    # -- writing (caller holds the session's lock) -------------------------------------------------------------

    def append(self, session_id: str, items: Sequence[tuple[int, bytes]], now: float, base_seq: int) -> int:
        """Archive ``items`` (seq order) not archived yet; returns the seq the archive now covers through.

        An archive holding only seqs below ``base_seq`` (history replaced, file not yet deleted) is replaced.
        """
        path = self.path(session_id)
        try:
            return self._append(path, session_id, items, now, base_seq)
        except OSError as exc:  # a full disk, a read-only directory: a store failure, named as one
            raise BackendError(f"cannot write session archive {str(path)!r}: {exc}") from exc

    def _append(
        self, path: Path, session_id: str, items: Sequence[tuple[int, bytes]], now: float, base_seq: int
    ) -> int:
        meta = read_meta(path)
        if meta is None or meta.last_seq is None or meta.last_seq < base_seq:
            fresh = [item for item in items if item[0] >= base_seq]
            if not fresh:
                return 0 if meta is None or meta.last_seq is None else meta.last_seq
            self._ensure_dir()
            write_archive(path, [fresh], name=session_id, created_at=now, written_at=now, codec=self.codec)
            return fresh[-1][0]
        new = [item for item in items if item[0] > meta.last_seq]
        if new:
            append_frame(path, meta, new, now)
            return new[-1][0]
        return meta.last_seq

    def rewrite(
        self, session_id: str, items: Sequence[tuple[int, bytes]], meta: ArchiveMeta, now: float
    ) -> None:
        """Replace the archive by ``items`` covering the same seq range (used to delete one archived message)."""
        path = self.path(session_id)
        try:
            write_archive(
                path,
                [items],
                name=session_id,
                created_at=meta.created_at,
                written_at=now,
                codec=meta.codec,
                covers=(meta.first_seq, meta.last_seq),
            )
        except OSError as exc:
            raise BackendError(f"cannot write session archive {str(path)!r}: {exc}") from exc

    def delete(self, session_id: str) -> bool:
        try:
            os.unlink(self.path(session_id))
        except FileNotFoundError:
            return False
        return True

    def names(self, after: str | None = None, limit: int = 1000) -> list[str]:
        """Archive file names in name order, a page at a time."""
        try:
            with os.scandir(self.directory) as entries:
                found = sorted(
                    e.name
                    for e in entries
                    if e.name.endswith(SUFFIX)
                    and not e.name.startswith(".")
                    and (after is None or e.name > after)
                )
        except FileNotFoundError:
            return []
        return found[:limit]

    def meta_by_name(self, name: str) -> ArchiveMeta | None:
        return read_meta(self.directory / name)
