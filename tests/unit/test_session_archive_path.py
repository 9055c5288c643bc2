"""A session archive named by a relative path stays where it was when the engine opened, wherever the process
moves since (a notebook's ``%cd``, a CLI that changes directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.testing import FakeEmbedder
from lix_integrations.tiers.sessions import SessionConfig


@pytest.mark.parametrize("archive_dir", [None, "archives"])
def test_archived_messages_are_read_back_after_the_process_changed_directory(
    archive_dir: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sqlite:///chat.db`` (archives beside it by default) or a relative ``archive_dir``: named from the relative
    path as given, the archive followed the process, so after a move the session's archived messages were not
    found (a history missing its first messages) and later spills went to a new directory of their own."""
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(home)
    config = SessionConfig(hot_window=4, archive_batch=4, archive_dir=archive_dir)
    with Engine("sqlite:///chat.db", embedder=FakeEmbedder(), sessions=config) as engine:
        for i in range(12):
            engine.sessions.add_message("s", {"role": "user", "content": f"message {i}"})
        monkeypatch.chdir(elsewhere)
        for i in range(12, 20):
            engine.sessions.add_message("s", {"role": "user", "content": f"message {i}"})
        history = engine.sessions.get_full_history("s")
        assert [m["content"] for m in history] == [f"message {i}" for i in range(20)]
    assert sorted(p.name for p in elsewhere.iterdir()) == []
