"""The session archive file: a small header, then independently compressed frames, appended, never rewritten.

lix-open-cache rewrites a session's whole ``.huff`` file (decode everything, re-encode everything) each time one
message spills, so spilling gets slower as the session grows. Here a spill appends one frame:

    file header (32 bytes + name)       frame header (48 bytes)                 payload
    magic  b"LXSA"                      magic      b"LXFR"                      compressed JSON
    format version  u16                 payload length, raw length  u32 u32     [[seq, message], ...]
    codec           u16                 message count               u32
    created_at      f64                 first seq, last seq         i64 i64
    dictionary id   u32                 written_at                  f64
    name length     u32                 payload CRC32, header CRC32 u32 u32
    reserved        u32
    header CRC32    u32 (over the header and the name bytes that follow it)

Everything but the payload is plain little-endian integers, so ``read_meta`` reports counts, seq range and
timestamps without decompressing. Durability: a new file (and any rewrite) is written to a temporary file,
fsynced, renamed over the target, and the directory fsynced; an append is one ``pwrite`` at the end of the last
valid frame followed by ``fdatasync``. A crash during an append can only leave an incomplete last frame; readers
report it as a torn tail (its messages are still in the hot store, which is trimmed only after the fsync) and
the next writer cuts it off. A frame that is complete but fails its checksum, or a damaged file header, is
corruption and raises `ArchiveCorruptError` naming the file.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from ..errors import BackendError
from ..timefmt import iso_repr
from .codec import Codec, compress, decompress, dictionary_id

__all__ = [
    "FILE_MAGIC",
    "FORMAT_VERSION",
    "ArchiveContents",
    "ArchiveCorruptError",
    "ArchiveMeta",
    "FrameInfo",
    "append_frame",
    "encode_items",
    "read_archive",
    "read_meta",
    "replace_file",
    "write_archive",
]

FILE_MAGIC = b"LXSA"
FRAME_MAGIC = b"LXFR"
FORMAT_VERSION = 1
_FILE_HEADER = struct.Struct("<4sHHdIII")  # magic, version, codec, created_at, dict id, name length, reserved
_FILE_CRC = struct.Struct("<I")
_FRAME_HEADER = struct.Struct(
    "<4sIIIqqdI"
)  # magic, payload len, raw len, count, first, last, written_at, crc
_FRAME_CRC = struct.Struct("<I")
FILE_HEADER_SIZE = _FILE_HEADER.size + _FILE_CRC.size
FRAME_HEADER_SIZE = _FRAME_HEADER.size + _FRAME_CRC.size
_MAX_NAME = 4096


class ArchiveCorruptError(BackendError):
    """An archive file is damaged or truncated; ``path`` names it. Other sessions' archives are unaffected."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"session archive {self.path!r} is unreadable: {problem}")


@dataclass(frozen=True, slots=True)
class FrameInfo:
    offset: int
    payload_size: int
    raw_size: int
    count: int
    first_seq: int
    last_seq: int
    written_at: float
    payload_crc: int

    __repr__ = iso_repr("written_at")

    @property
    def end(self) -> int:
        return self.offset + FRAME_HEADER_SIZE + self.payload_size


@dataclass(frozen=True, slots=True)
class ArchiveMeta:
    """An archive described from its headers alone (nothing decompressed)."""

    path: str
    version: int
    codec: Codec
    name: str
    created_at: float
    updated_at: float
    count: int
    first_seq: int | None
    last_seq: int | None
    size: int
    valid_size: int
    frames: tuple[FrameInfo, ...]

    __repr__ = iso_repr("created_at", "updated_at")

    @property
    def torn_bytes(self) -> int:
        """Bytes after the last complete frame: an append interrupted by a crash (cut off by the next writer)."""
        return self.size - self.valid_size


@dataclass(frozen=True, slots=True)
class ArchiveContents:
    meta: ArchiveMeta
    items: list[tuple[int, Any]]  # (seq, message) in seq order


def encode_items(items: Sequence[tuple[int, bytes]]) -> bytes:
    """The raw payload of a frame: a JSON array of ``[seq, message]`` built from already-encoded JSON values."""
    return b"[" + b",".join(b"[%d,%s]" % (seq, value) for seq, value in items) + b"]"


def _file_header(codec: Codec, created_at: float, name: str) -> bytes:
    raw_name = name.encode("utf-8", "surrogatepass")
    head = _FILE_HEADER.pack(
        FILE_MAGIC, FORMAT_VERSION, int(codec), created_at, dictionary_id(codec), len(raw_name), 0
    )
    return head + _FILE_CRC.pack(zlib.crc32(head + raw_name)) + raw_name


def _frame(
    codec: Codec,
    items: Sequence[tuple[int, bytes]],
    written_at: float,
    covers: tuple[int | None, int | None] | None = None,
) -> bytes:
    """One frame; ``covers`` is the seq range it accounts for (wider than its items once some were deleted)."""
    raw = encode_items(items)
    payload = compress(codec, raw)
    first, last = covers if covers is not None else (None, None)
    first = items[0][0] if first is None else first
    last = items[-1][0] if last is None else last
    head = _FRAME_HEADER.pack(
        FRAME_MAGIC, len(payload), len(raw), len(items), first, last, written_at, zlib.crc32(payload)
    )
    return head + _FRAME_CRC.pack(zlib.crc32(head)) + payload


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_archive(
    path: Path,
    frames: Sequence[Sequence[tuple[int, bytes]]],
    *,
    name: str,
    created_at: float,
    written_at: float,
    codec: Codec = Codec.ZSTD_DICT_V1,
    covers: tuple[int | None, int | None] | None = None,
) -> None:
    """Create or replace an archive atomically: temporary file, fsync, rename, fsync of the directory.

    ``covers`` (with a single frame) keeps the seq range of a rewritten archive whose items were thinned out.
    """
    body = [_file_header(codec, created_at, name)]
    if covers is not None and covers[0] is not None:
        body += [_frame(codec, frames[0] if frames else [], written_at, covers)]
    else:
        body += [_frame(codec, items, written_at) for items in frames if items]
    replace_file(path, b"".join(body))


def replace_file(path: Path, data: bytes, suffix: str = ".lxa") -> None:
    """Create or replace ``path`` with ``data`` atomically: a hidden temporary file beside it (which no listing of
    archives shows if a crash leaves it), fsync, rename, fsync of the directory."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def append_frame(
    path: Path, meta: ArchiveMeta, items: Sequence[tuple[int, bytes]], written_at: float
) -> None:
    """Append one frame after the last valid one (cutting off a torn tail first) and fdatasync.

    The caller holds the session's archive lock and passes the ``meta`` it just read under that lock.
    """
    frame = _frame(meta.codec, items, written_at)
    fd = os.open(path, os.O_WRONLY)
    try:
        if meta.torn_bytes:
            os.ftruncate(fd, meta.valid_size)
        written = os.pwrite(fd, frame, meta.valid_size)
        if written != len(frame):
            raise OSError(f"short write to {path} ({written} of {len(frame)} bytes)")
        os.fdatasync(fd) if hasattr(os, "fdatasync") else os.fsync(fd)
    finally:
        os.close(fd)


def _parse(path: Path, data: bytes | None, fd: int | None, size: int) -> ArchiveMeta:
    """Walk the headers; ``data`` is the whole file when already read, else headers are read from ``fd``."""

    def read(offset: int, length: int) -> bytes:
        if data is not None:
            return data[offset : offset + length]
        assert fd is not None
        return os.pread(fd, length, offset)

    head = read(0, FILE_HEADER_SIZE)
    if len(head) < FILE_HEADER_SIZE:
        raise ArchiveCorruptError(path, f"{len(head)} bytes is shorter than the archive header")
    magic, version, codec_id, created_at, dict_id, name_len, _ = _FILE_HEADER.unpack_from(head)
    if magic != FILE_MAGIC:
        raise ArchiveCorruptError(path, f"not a lix session archive (magic {magic!r})")
    if version != FORMAT_VERSION:
        raise ArchiveCorruptError(path, f"format version {version} is not readable by this version (reads 1)")
    if name_len > _MAX_NAME:
        raise ArchiveCorruptError(path, "damaged header (session name length)")
    raw_name = read(FILE_HEADER_SIZE, name_len)
    (crc,) = _FILE_CRC.unpack_from(head, _FILE_HEADER.size)
    if len(raw_name) != name_len or zlib.crc32(head[: _FILE_HEADER.size] + raw_name) != crc:
        raise ArchiveCorruptError(path, "damaged header (checksum mismatch)")
    try:
        codec = Codec(codec_id)
    except ValueError:
        raise ArchiveCorruptError(path, f"unknown codec {codec_id}") from None
    if dict_id != dictionary_id(codec):
        raise ArchiveCorruptError(
            path, f"written with zstd dictionary {dict_id}, this version has {dictionary_id(codec)}"
        )
    frames: list[FrameInfo] = []
    offset = FILE_HEADER_SIZE + name_len
    while offset + FRAME_HEADER_SIZE <= size:
        raw = read(offset, FRAME_HEADER_SIZE)
        fmagic, plen, rlen, count, first, last, written_at, pcrc = _FRAME_HEADER.unpack_from(raw)
        (hcrc,) = _FRAME_CRC.unpack_from(raw, _FRAME_HEADER.size)
        if fmagic != FRAME_MAGIC or zlib.crc32(raw[: _FRAME_HEADER.size]) != hcrc:
            break  # an interrupted append (or garbage after one): the valid archive ends here
        frame = FrameInfo(offset, plen, rlen, count, first, last, written_at, pcrc)
        if frame.end > size:
            break  # the payload was not completely written
        if (frames and first <= frames[-1].last_seq) or last < first:
            raise ArchiveCorruptError(path, f"frame at byte {offset} has seqs out of order")
        frames.append(frame)
        offset = frame.end
    if not frames and offset < size:
        # The first frame is written with the file (temporary file + rename), so it cannot be a torn append.
        raise ArchiveCorruptError(path, "truncated or damaged in its first frame")
    return ArchiveMeta(
        path=str(path),
        version=version,
        codec=codec,
        name=raw_name.decode("utf-8", "surrogatepass"),
        created_at=created_at,
        updated_at=frames[-1].written_at if frames else created_at,
        count=sum(f.count for f in frames),
        first_seq=frames[0].first_seq if frames else None,
        last_seq=frames[-1].last_seq if frames else None,
        size=size,
        valid_size=offset,
        frames=tuple(frames),
    )


def read_meta(path: Path) -> ArchiveMeta | None:
    """The archive's headers (``None`` if there is no file); reads only headers, never payloads."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArchiveCorruptError(path, f"cannot open: {exc}") from exc
    try:
        return _parse(path, None, fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def read_archive(path: Path, *, strict: bool = False) -> ArchiveContents | None:
    """Every archived message in seq order (``None`` if there is no file).

    ``strict`` also refuses a torn tail; the session tier reads leniently and checks the archive against what its
    hot store says was archived, which tells an interrupted append from a truncated file.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ArchiveCorruptError(path, f"cannot read: {exc}") from exc
    meta = _parse(path, data, None, len(data))
    if strict and meta.torn_bytes:
        raise ArchiveCorruptError(path, f"truncated: {meta.torn_bytes} bytes after the last complete frame")
    items: list[tuple[int, Any]] = []
    for frame in meta.frames:
        start = frame.offset + FRAME_HEADER_SIZE
        payload = data[start : start + frame.payload_size]
        if zlib.crc32(payload) != frame.payload_crc:
            raise ArchiveCorruptError(path, f"frame at byte {frame.offset} fails its checksum")
        try:
            decoded = json.loads(decompress(meta.codec, payload, frame.raw_size))
        except (ValueError, zstandard.ZstdError) as exc:
            raise ArchiveCorruptError(path, f"frame at byte {frame.offset} cannot be decoded: {exc}") from exc
        if not isinstance(decoded, list) or len(decoded) != frame.count:
            raise ArchiveCorruptError(
                path, f"frame at byte {frame.offset} does not hold {frame.count} messages"
            )
        for entry in decoded:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int)):
                raise ArchiveCorruptError(path, f"frame at byte {frame.offset} holds a malformed entry")
            items.append((entry[0], entry[1]))
    return ArchiveContents(meta, items)
