"""The escapes that turn caller ids into Redis key parts, archive file names and session keys give, for every
id, what the character loops they replaced gave (kept here as the reference): hostile ids stay apart and inside
their unit whichever form computes them."""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest

from lix_integrations.archive.store import archive_name
from lix_integrations.backends.redis.keys import esc, unesc
from lix_integrations.tiers.session_parts import session_key


def _esc_loop(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in "%{}*?[]\\/:" or ord(ch) <= 0x20 or ord(ch) == 0x7F:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def _archive_loop(session_id: str) -> str:
    safe = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = session_id.encode("utf-8", "surrogatepass")
    return "".join(chr(b) if b in safe else f"%{b:02X}" for b in raw)


def _ids() -> list[str]:
    rng = random.Random(19)
    alphabet = [chr(c) for c in range(0, 0x80)] + ["é", "ß", "€", "𝄞", "\u2028", "\ufeff", "中"]
    ids = ["", "a", "*", "{x}", "a:b", "../x", "%2F", "a b", "\x7f", "\x00", "alice", "Alice", "user/1"]
    ids += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    return ids


def test_esc_matches_the_character_loop_and_round_trips() -> None:
    assert esc("a\ud800:b") == _esc_loop("a\ud800:b") == "a\ud800%3Ab"  # a lone surrogate passes as before
    for text in _ids():
        assert esc(text) == _esc_loop(text), repr(text)
        assert unesc(esc(text)) == text


def test_archive_names_match_the_byte_loop() -> None:
    assert archive_name.__wrapped__("a\ud800") == _archive_loop("a\ud800") + ".lxa" == "a%ED%A0%80.lxa"
    for sid in _ids():
        if sid and len(_archive_loop(sid)) <= 200:
            assert archive_name.__wrapped__(sid) == _archive_loop(sid) + ".lxa", repr(sid)


def test_session_keys_match_urllib_quote() -> None:
    for bad in ("a\ud800", "\udfff"):  # refused by both (validate_session_id refuses such ids first)
        with pytest.raises(UnicodeEncodeError):
            quote(bad, safe="")
        with pytest.raises(UnicodeEncodeError):
            session_key.__wrapped__(bad)
    for sid in _ids():
        assert session_key.__wrapped__(sid) == quote(sid, safe=""), repr(sid)
