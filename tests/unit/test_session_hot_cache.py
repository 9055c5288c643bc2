"""The session tier's remembered windows (`HotCache`): a window extended by this process's appends reports the
status the store would, though it makes that status only when asked."""

from __future__ import annotations

from lix_integrations.kernel.ops import ListAppended, ListStatus
from lix_integrations.tiers.session_cache import HotCache, Window


def _append(cache: HotCache, seq: int, length: int, previous: str, now: float) -> str:
    version = f"v{seq}"
    cache.appended("k", ListAppended((seq,), length, version=version, previous=previous), (b"x",), now, 0)
    return version


def test_a_grown_window_reports_the_status_of_its_appends() -> None:
    cache = HotCache(100)
    base = ListStatus(
        length=2, first_seq=4, last_seq=5, next_seq=6, updated_at=1.0, base_seq=3, archived_through=3
    )
    cache.put("k", Window("v5", base, ((4, b"a"), (5, b"b"))))
    version = _append(cache, 6, 3, "v5", 2.0)
    version = _append(cache, 7, 4, version, 3.0)
    window = cache.get("k")
    assert window is not None and window.version == "v7"
    assert [seq for seq, _ in window.items] == [4, 5, 6, 7]
    assert window.status == ListStatus(4, 4, 7, 8, 3.0, 3, 3)
    assert window.status is window.status  # made once
    _append(cache, 8, 5, "v7", 4.0)  # grown from a window whose status was made already
    grown = cache.get("k")
    assert grown is not None and grown.status == ListStatus(5, 4, 8, 9, 4.0, 3, 3)


def test_a_window_of_an_empty_list_takes_the_first_seq_of_its_first_append() -> None:
    cache = HotCache(100)
    empty = ListStatus(
        length=0, first_seq=None, last_seq=None, next_seq=9, updated_at=1.0, base_seq=9, archived_through=8
    )
    cache.put("k", Window("v0", empty, ()))
    version = _append(cache, 9, 1, "v0", 2.0)
    _append(cache, 10, 2, version, 3.0)
    window = cache.get("k")
    assert window is not None and window.status == ListStatus(2, 9, 10, 11, 3.0, 9, 8)


def test_an_append_after_another_clients_change_forgets_the_window() -> None:
    cache = HotCache(100)
    base = ListStatus(
        length=1, first_seq=1, last_seq=1, next_seq=2, updated_at=1.0, base_seq=0, archived_through=0
    )
    cache.put("k", Window("v1", base, ((1, b"a"),)))
    _append(cache, 3, 2, "v2", 2.0)  # the store's previous stamp is not the remembered one
    assert cache.get("k") is None


class _Codec:
    """Keeps a message as its bytes and thaws a new list of them: enough to see which items a window reads."""

    def decode(self, raw: bytes) -> list[bytes]:
        return [raw]

    def keep(self, message: list[bytes]) -> object:
        return message[0]

    def thaw(self, kept: object) -> list[bytes]:
        return [kept]  # type: ignore[list-item]


def test_a_window_keeps_its_items_after_appends_extend_the_lists_it_shares() -> None:
    # An append extends the lists of the window it grows in place (no tuple or pair per message): a reader that
    # holds the older window still sees that window's items and messages only.
    cache, codec = HotCache(100), _Codec()
    base = ListStatus(
        length=2, first_seq=1, last_seq=2, next_seq=3, updated_at=1.0, base_seq=0, archived_through=0
    )
    cache.put("k", Window("v2", base, ((1, b"a"), (2, b"b"))))
    held = cache.get("k")
    assert held is not None and held.messages(codec, 0) == [[b"a"], [b"b"]]  # decoded: kept b"a", b"b"
    result = ListAppended((3, 4), 4, version="v4", previous="v2")
    cache.appended("k", result, (b"c", b"d"), 2.0, 0, (codec, [b"c", b"d"]))
    grown = cache.get("k")
    assert grown is not None and grown.items == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
    assert grown.messages(codec, 1) == [[b"b"], [b"c"], [b"d"]]
    assert held.items == [(1, b"a"), (2, b"b")] and held.messages(codec, 0) == [[b"a"], [b"b"]]
    assert held.status == base and held.version == "v2"
    _append(
        cache, 5, 5, "v4", 3.0
    )  # kept nothing of it (no codec objects): the codec's list is not carried on
    newest = cache.get("k")
    assert newest is not None and [seq for seq, _ in newest.items] == [1, 2, 3, 4, 5]
    assert grown.items == [(1, b"a"), (2, b"b"), (3, b"c"), (4, b"d")]
    assert newest.messages(codec, 3) == [[b"d"], [b"x"]]  # decoded afresh from its values
    assert grown.messages(codec, 3) == [[b"d"]]
