"""Reader for lix-open-cache's ``.huff`` archives, so sessions it archived can be read (and imported) here.

Layout, as lix-open-cache publishes it: magic ``CAv1``, ``created_at`` and ``updated_at`` (float64 LE), turn count
(uint32 LE), then a canonical-Huffman stream (its ``HCv1`` block: original length, the symbols sorted by code
length with their lengths, the padding bit count, then the bits, most significant first) of the JSON array of
turns. Decoding is table-driven (one table lookup per symbol instead of one dictionary probe per *bit*), and
every field read from the file is validated, so a damaged file raises `ArchiveCorruptError` naming it.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..timefmt import iso_repr
from .format import ArchiveCorruptError

__all__ = ["HUFF_MAGIC", "HuffArchive", "HuffHeader", "decode_huffman", "read_huff", "read_huff_header"]

HUFF_MAGIC = b"CAv1"
_BLOCK_MAGIC = b"HCv1"
_HEADER = struct.Struct("<4sddI")
_TABLE_BITS_MAX = 20


@dataclass(frozen=True, slots=True)
class HuffHeader:
    """What a ``.huff`` header says, read without decompressing."""

    created_at: float
    updated_at: float
    turns: int
    size: int

    __repr__ = iso_repr("created_at", "updated_at")


@dataclass(frozen=True, slots=True)
class HuffArchive:
    header: HuffHeader
    turns: list[Any]


def read_huff_header(path: str | Path) -> HuffHeader:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            size = f.seek(0, 2)
    except OSError as exc:
        raise ArchiveCorruptError(path, f"cannot read: {exc}") from exc
    return _parse_header(path, head, size)


def _parse_header(path: Path, head: bytes, size: int) -> HuffHeader:
    if len(head) < _HEADER.size:
        raise ArchiveCorruptError(
            path, f"{len(head)} bytes is shorter than the {_HEADER.size}-byte .huff header"
        )
    magic, created, updated, turns = _HEADER.unpack(head)
    if magic != HUFF_MAGIC:
        raise ArchiveCorruptError(
            path, f"not a lix-open-cache archive (magic {magic!r}, expected {HUFF_MAGIC!r})"
        )
    return HuffHeader(created, updated, turns, size)


def read_huff(path: str | Path) -> HuffArchive:
    """Read and decode a whole ``.huff`` archive; its turns are returned as lix-open-cache stored them."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ArchiveCorruptError(path, f"cannot read: {exc}") from exc
    header = _parse_header(path, raw[: _HEADER.size], len(raw))
    try:
        text = decode_huffman(raw[_HEADER.size :]).decode("utf-8")
        turns = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveCorruptError(path, f"compressed turns cannot be decoded: {exc}") from exc
    if not isinstance(turns, list):
        raise ArchiveCorruptError(path, "decoded payload is not a JSON array of turns")
    if len(turns) != header.turns:
        raise ArchiveCorruptError(path, f"header says {header.turns} turns but {len(turns)} were decoded")
    return HuffArchive(header, turns)


def decode_huffman(data: bytes) -> bytes:
    """Decode one ``HCv1`` block; raises ``ValueError`` on any inconsistency (truncation, bad code table)."""
    if not data:
        return b""
    if len(data) < 8 or data[:4] != _BLOCK_MAGIC:
        raise ValueError(f"bad Huffman block magic {data[:4]!r}")
    (size,) = struct.unpack_from("<I", data, 4)
    if size == 0:
        return b""
    if len(data) < 10:
        raise ValueError("Huffman block truncated in its symbol table")
    (count,) = struct.unpack_from("<H", data, 8)
    table_end = 10 + 2 * count
    if not 1 <= count <= 256 or len(data) < table_end + 4:
        raise ValueError(f"Huffman block has a bad or truncated symbol table ({count} symbols)")
    pairs = [(data[10 + 2 * i], data[11 + 2 * i]) for i in range(count)]
    (padding,) = struct.unpack_from("<I", data, table_end)
    bits = data[table_end + 4 :]
    if padding > 7 or (padding and not bits):
        raise ValueError(f"bad padding {padding}")
    lengths = [length for _, length in pairs]
    if any(length < 1 for length in lengths) or lengths != sorted(lengths):
        raise ValueError("symbol code lengths are not canonical")
    if sum(2.0**-length for length in lengths) > 1.0 + 1e-12:
        raise ValueError("symbol code lengths over-subscribe the code space")
    codes: list[tuple[int, int, int]] = []  # (code, length, symbol) in canonical order
    code, previous = 0, lengths[0]
    for symbol, length in pairs:
        code <<= length - previous
        previous = length
        codes.append((code, length, symbol))
        code += 1
    total_bits = len(bits) * 8 - padding
    max_len = lengths[-1]
    if max_len <= _TABLE_BITS_MAX:
        out = _decode_table(bits, total_bits, size, codes, max_len)
    else:  # pathological code lengths: fall back to walking the canonical code one bit at a time
        out = _decode_canonical(bits, total_bits, size, codes)
    if len(out) != size:
        raise ValueError(f"Huffman stream ends after {len(out)} of {size} bytes (truncated)")
    return bytes(out)


def _decode_table(
    bits: bytes, total_bits: int, size: int, codes: list[tuple[int, int, int]], width: int
) -> bytearray:
    table_sym = bytearray(1 << width)
    table_len = bytearray(1 << width)  # 0 marks a prefix no code starts with
    for code, length, symbol in codes:
        start = code << (width - length)
        span = 1 << (width - length)
        table_sym[start : start + span] = bytes([symbol]) * span
        table_len[start : start + span] = bytes([length]) * span
    out = bytearray()
    append = out.append
    mask = (1 << width) - 1
    acc = 0
    held = 0  # bits in acc
    consumed = 0
    pos = 0
    n = len(bits)
    while len(out) < size:
        while held < width and pos < n:
            acc = (acc << 8) | bits[pos]
            pos += 1
            held += 8
        if held >= width:
            index = (acc >> (held - width)) & mask
        else:
            index = (acc << (width - held)) & mask
        length = table_len[index]
        if length == 0 or consumed + length > total_bits:
            break
        append(table_sym[index])
        held -= length
        consumed += length
        acc &= (1 << held) - 1
    return out


def _decode_canonical(
    bits: bytes, total_bits: int, size: int, codes: list[tuple[int, int, int]]
) -> bytearray:
    lookup = {(code, length): symbol for code, length, symbol in codes}
    out = bytearray()
    code = length = 0
    for i in range(total_bits):
        code = (code << 1) | ((bits[i >> 3] >> (7 - (i & 7))) & 1)
        length += 1
        symbol = lookup.get((code, length))
        if symbol is not None:
            out.append(symbol)
            code = length = 0
            if len(out) >= size:
                break
    return out
