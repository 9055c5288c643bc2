"""The session tier's cold archive: our append-only ``.lxa`` format, its codecs, and a reader for lix-open-cache's
``.huff`` files. Blocking file I/O only; the session tier runs it inline (sync) or in a worker thread (async)."""

from .codec import Codec
from .format import ArchiveContents, ArchiveCorruptError, ArchiveMeta, read_archive, read_meta
from .huff import HuffArchive, HuffHeader, read_huff, read_huff_header
from .store import SessionArchive, archive_name, session_from_name

__all__ = [
    "ArchiveContents",
    "ArchiveCorruptError",
    "ArchiveMeta",
    "Codec",
    "HuffArchive",
    "HuffHeader",
    "SessionArchive",
    "archive_name",
    "read_archive",
    "read_huff",
    "read_huff_header",
    "read_meta",
    "session_from_name",
]
