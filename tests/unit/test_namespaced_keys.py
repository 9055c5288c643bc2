"""Record keys of namespaced documents and node-cache entries: reversible, prefix-safe, refusing NUL."""

from __future__ import annotations

import pytest

from lix_integrations.errors import InvalidIdError
from lix_integrations.tiers.documents import matches_filter, path_matches
from lix_integrations.tiers.namespaced import decode_record_key, encode_path, record_key

PATHS = [(), ("a",), ("a", "b"), ("a/b",), ("a|b",), ("%2F",), ("a:b", "c"), ("ü", "🔑"), ("a\n",)]
KEYS = ["", "k", "b/|c", "|", "%7C", "🔑"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("key", KEYS)
def test_record_keys_round_trip(path: tuple[str, ...], key: str) -> None:
    assert decode_record_key(record_key(path, key)) == (path, key)


def test_a_path_prefix_only_reaches_paths_that_extend_it() -> None:
    keys = {p: record_key(p, "k") for p in PATHS}
    for prefix in PATHS:
        reached = {p for p, k in keys.items() if k.startswith(encode_path(prefix))}
        assert reached == {p for p in PATHS if p[: len(prefix)] == prefix}


def test_nul_and_empty_labels_are_refused() -> None:
    for bad_path, bad_key in [(("a\x00",), "k"), (("",), "k"), (("a",), "k\x00"), (("a",), 5)]:
        with pytest.raises(InvalidIdError):
            record_key(bad_path, bad_key)  # type: ignore[arg-type]


def test_filter_and_match_helpers() -> None:
    assert matches_filter({"a": {"b": [1, 2]}}, {"a.b": [1, 2], "a": {"b": {"$ne": []}}})
    assert not matches_filter({"a": 1}, {"a": True})
    assert path_matches("prefix", ("a", "*"), ("a", "x", "y"))
    assert not path_matches("suffix", ("a", "*"), ("a",))
