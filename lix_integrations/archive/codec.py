"""Compression codecs of the session archive, identified by a number stored in every archive header.

Measured on multi-turn conversations cut into 20-message frames (``benchmarks/sessions.py``): plain zstd or zlib
reach a ratio of about 2.3-2.4 because a frame is too small to learn from; zstd primed with the shipped
dictionary (trained on unrelated sentence pairs, see ``benchmarks/build_session_dictionary.py``) reaches about
3 at level 9, and decodes hundreds of MB/s, where lix-open-cache's pure-Python Huffman coder gives 1.4-1.7 at well
under 1 MB/s. Level 9 rather than 15: a 20-message frame compresses in 90 us instead of 346 us for a ratio of 3.02
instead of 3.11 (measured on the real conversations), and that compression sits on the path of every spilling
chat append, where it was 15% of the SQLite add time; level 3 would lose 8% of the ratio. Frames carry no zstd content
size, checksum or dictionary id: the archive's frame header already has the sizes, a CRC32 and the codec.
"""

from __future__ import annotations

import enum
import functools
import threading
import zlib
from importlib import resources

import zstandard

__all__ = ["DICTIONARY_V1", "Codec", "compress", "decompress", "dictionary_id"]

#: File name of the shipped dictionary (never changed once released; a new one gets a new name).
DICTIONARY_V1 = "session_dict_v1.zstd"
ZSTD_LEVEL = 9
_MAX_FRAME = 256 * 1024 * 1024


class Codec(enum.IntEnum):
    """How a frame's payload is compressed (the value is stored in the archive header)."""

    RAW = 0
    ZLIB = 1
    ZSTD = 2
    ZSTD_DICT_V1 = 3


@functools.lru_cache(maxsize=1)
def _dictionary() -> zstandard.ZstdCompressionDict:
    data = resources.files(__package__).joinpath(DICTIONARY_V1).read_bytes()
    return zstandard.ZstdCompressionDict(data)


def dictionary_id(codec: Codec) -> int:
    """The zstd dictionary id a codec needs (0 for none), stored in headers to catch a mismatched dictionary."""
    return _dictionary().dict_id() if codec is Codec.ZSTD_DICT_V1 else 0


_local = threading.local()


def _lean_compressor(dictionary: zstandard.ZstdCompressionDict | None) -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(
        level=ZSTD_LEVEL,
        dict_data=dictionary,
        write_checksum=False,
        write_content_size=False,
        write_dict_id=False,
    )


def _zstd(codec: Codec) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    # zstandard's (de)compressors must not be shared by threads at once: one pair per thread and codec, so the
    # dictionary is digested once per thread rather than once per frame.
    pairs: dict[Codec, tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]] | None = getattr(
        _local, "pairs", None
    )
    if pairs is None:
        pairs = _local.pairs = {}
    pair = pairs.get(codec)
    if pair is None:
        if codec is Codec.ZSTD_DICT_V1:
            pair = (
                _lean_compressor(_dictionary()),
                zstandard.ZstdDecompressor(dict_data=_dictionary()),
            )
        else:
            pair = (_lean_compressor(None), zstandard.ZstdDecompressor())
        pairs[codec] = pair
    return pair


def compress(codec: Codec, data: bytes) -> bytes:
    if codec is Codec.RAW:
        return data
    if codec is Codec.ZLIB:
        return zlib.compress(data, 9)
    return _zstd(codec)[0].compress(data)


def decompress(codec: Codec, data: bytes, raw_size: int) -> bytes:
    """Decompress a payload whose uncompressed size is known from its frame header (bounds memory use)."""
    if raw_size > _MAX_FRAME:
        raise ValueError(f"frame claims {raw_size} bytes, over the limit of {_MAX_FRAME}")
    if codec is Codec.RAW:
        return data
    if codec is Codec.ZLIB:
        return zlib.decompress(data)
    out = _zstd(codec)[1].decompress(data, max_output_size=max(raw_size, 1))  # 0 would mean "unbounded"
    return bytes(out)
