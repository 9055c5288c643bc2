"""The `lix` command through its real entry point (a subprocess running the console script's module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lix_integrations import Engine
from lix_integrations.testing import FakeClock, FakeEmbedder


def lix(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `lix` as installed: `python -m lix_integrations.cli` is what the console script calls."""
    return subprocess.run(
        [sys.executable, "-m", "lix_integrations.cli", *args],
        capture_output=True,
        input=stdin,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def ok_json(*args: str, **kwargs: object) -> object:
    result = lix(*args, "--json", **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A SQLite store written by another model (the fake embedder): the CLI must open it without that model."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    clock = FakeClock()
    with Engine(url, embedder=FakeEmbedder(), clock=clock) as engine:
        engine.semantic.update("What is the capital of France?", "gpt-x", "Paris", scope="tenant-a")
        engine.semantic.update(
            "Who wrote Hamlet?", "gpt-y", "Shakespeare", usage={"input_tokens": 12, "output_tokens": 3}
        )
        engine.semantic.update("Old question", "gpt-x", "stale", ttl=10)
        clock.advance(3600)  # the TTL entry is now expired (the store's clock is the wall clock for others)
        engine.sessions.add_messages("chat-1", [{"role": "user", "content": f"hello {i}"} for i in range(5)])
        engine.sessions.add_messages("chat-2", [{"role": "user", "content": "hi"}])
    return url


def test_help_lists_every_command() -> None:
    result = lix("--help")
    assert result.returncode == 0
    for command in ("stats", "inspect", "sessions", "archive", "cleanup", "calibrate", "bench"):
        assert command in result.stdout


def test_console_script_is_declared() -> None:
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert data["project"]["scripts"]["lix"] == "lix_integrations.cli:main"


def test_stats_counts_what_the_store_holds(store: str) -> None:
    data = ok_json("stats", "--url", store)
    assert data["semantic_entries"] == 3
    assert data["sessions"] == 2
    human = lix("stats", "--url", store)
    assert human.returncode == 0 and "semantic_entries" in human.stdout


def test_inspect_semantic_filters_by_scope_and_model(store: str) -> None:
    everything = ok_json("inspect", "--url", store)
    assert [e["prompt"] for e in everything] == [
        "What is the capital of France?",
        "Who wrote Hamlet?",
        "Old question",
    ]
    assert everything[1]["payload"] == "Shakespeare"  # the engine's envelope is removed
    assert everything[1]["usage"] == {"input_tokens": 12, "output_tokens": 3, "model": None}
    scoped = ok_json("inspect", "--url", store, "--scope", "tenant-a")
    assert [e["payload"] for e in scoped] == ["Paris"]
    by_model = ok_json("inspect", "--url", store, "--model", "gpt-x")
    assert [e["payload"] for e in by_model] == ["Paris", "stale"]
    page = ok_json("inspect", "--url", store, "--limit", "1", "--after-id", str(everything[0]["id"]))
    assert [e["payload"] for e in page] == ["Shakespeare"]
    table = lix("inspect", "--url", store)
    assert table.returncode == 0 and "Shakespeare" in table.stdout


def test_inspect_sessions(store: str) -> None:
    assert ok_json("inspect", "--url", store, "--tier", "sessions") == [
        {"session_id": "chat-1", "messages": 5},
        {"session_id": "chat-2", "messages": 1},
    ]


def test_sessions_list_show_export_import_delete(store: str, tmp_path: Path) -> None:
    assert ok_json("sessions", "list", "--url", store) == ["chat-1", "chat-2"]
    shown = ok_json("sessions", "show", "chat-1", "--url", store)
    assert [m["content"] for m in shown] == [f"hello {i}" for i in range(5)]
    assert len(ok_json("sessions", "show", "chat-1", "--last", "2", "--url", store)) == 2

    exported = tmp_path / "chat-1.jsonl"
    result = lix("sessions", "export", "chat-1", "--url", store, "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in exported.read_text().splitlines()] == shown

    imported = ok_json("sessions", "import", "copy", str(exported), "--url", store)
    assert imported == {"session_id": "copy", "imported": 5, "messages": 5}
    assert ok_json("sessions", "show", "copy", "--url", store) == shown

    assert ok_json("sessions", "delete", "copy", "--url", store) == {"session_id": "copy", "deleted": True}
    gone = lix("sessions", "delete", "copy", "--url", store)
    assert gone.returncode == 1 and gone.stderr.strip() == "lix: error: no session 'copy'"


def test_import_and_cat_a_lix_open_cache_huff_file(store: str, tmp_path: Path) -> None:
    lix_open_cache = pytest.importorskip("lix_open_cache")
    turns = [{"role": "user", "content": f"turn {i}"} for i in range(7)]
    lix_open_cache.ConversationArchive(str(tmp_path / "old")).append_turns("old", turns)
    path = tmp_path / "old" / "old.huff"
    cat = ok_json("archive", "cat", str(path))
    assert cat["turns"] == turns and cat["header"]["turns"] == 7
    assert ok_json("sessions", "import", "migrated", str(path), "--url", store)["imported"] == 7
    assert ok_json("sessions", "show", "migrated", "--url", store) == turns


def test_archive_cat_reads_our_own_archive(tmp_path: Path) -> None:
    from lix_integrations.tiers.sessions import SessionConfig

    archive_dir = tmp_path / "archive"
    config = SessionConfig(hot_window=2, archive_batch=2, archive_dir=str(archive_dir))
    with Engine(f"sqlite:///{tmp_path / 'a.db'}", embedder=FakeEmbedder(), sessions=config) as engine:
        engine.sessions.add_messages("s", [{"role": "user", "content": f"m{i}"} for i in range(6)])
    files = [p for p in archive_dir.rglob("*") if p.is_file() and p.suffix == ".lxa"]
    assert files, list(archive_dir.rglob("*"))
    cat = ok_json("archive", "cat", str(files[0]))
    assert cat["turns"] and all(t["content"].startswith("m") for t in cat["turns"])
    assert cat["header"]["format"].startswith("lix archive")
    assert lix("archive", "cat", str(files[0])).returncode == 0


def test_cleanup_removes_expired_entries(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with Engine(url, embedder=FakeEmbedder()) as engine:
        engine.semantic.update("short lived", "m", "x", ttl=0.001)
        engine.semantic.update("long lived", "m", "y")
    import time

    time.sleep(0.01)  # the CLI runs on the wall clock; the entry's TTL was one millisecond
    done = ok_json("cleanup", "--url", url)
    assert done["expired semantic entries"] == 1
    assert ok_json("stats", "--url", url)["semantic_entries"] == 1


def test_calibrate_finds_the_known_threshold(tmp_path: Path) -> None:
    # With the fake bag-of-words embedder, identical word sets have cosine 1 and disjoint ones cosine ~0, so
    # the duplicates are found at every threshold and the unrelated pair never hits: precision 1 from 0.5 up.
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"q1": "alpha beta gamma", "q2": "gamma beta alpha", "label": 1},
        {"q1": "red green blue", "q2": "blue red green", "label": 1},
        {"q1": "one two three", "q2": "seven eight nine", "label": 0},
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ok_json("calibrate", str(pairs), "--embedder", "fake", "--target-precision", "0.99")
    assert result["threshold"] == 0.5
    assert result["point"]["precision"] == 1.0 and result["point"]["recall"] == 1.0
    plot = tmp_path / "curve.png"
    human = lix("calibrate", str(pairs), "--embedder", "fake", "--plot", str(plot))
    assert human.returncode == 0, human.stderr
    assert "threshold 0.500" in human.stdout and plot.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calibrate", "missing.jsonl"], "missing.jsonl: no such file"),
        (["calibrate", "bad.jsonl", "--embedder", "fake"], "line 2: not valid JSON"),
        (["inspect", "--url", "sqlite:///nowhere/x.db"], "no store at nowhere/x.db"),
        (["inspect", "--url", "memory://", "--limit", "0"], "--limit must be positive"),
        (["inspect", "--url", "memory://", "--tier", "bogus"], "--tier must be"),
        (["stats", "--url", "ftp://x"], "ftp"),
        (["archive", "cat", "bad.jsonl"], "bad.jsonl"),
        (["sessions", "import", "s", "bad.jsonl", "--url", "memory://"], "line 2: not valid JSON"),
        (["sessions", "show", "", "--url", "memory://"], "session"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "bad.jsonl").write_text('{"q1": "a", "q2": "b", "label": 1}\nnot json\n')
    result = lix(*args, cwd=tmp_path)
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lix: error: "), result.stderr
    assert message in lines[0]


def test_url_from_the_environment(store: str) -> None:
    assert ok_json("stats", env={"LIX_URL": store})["semantic_entries"] == 3


def test_memory_url_is_empty_in_a_new_process() -> None:
    assert ok_json("stats", "--url", "memory://")["semantic_entries"] == 0
    assert ok_json("sessions", "list", "--url", "memory://") == []


def test_bench_runs_the_demo(tmp_path: Path) -> None:
    rows = ok_json("bench", "--embedder", "fake", "--latency", "0", env={"LIX_CACHE_DIR": str(tmp_path)})
    assert rows and {r["outcome"] for r in rows} >= {"miss"}


def test_version() -> None:
    from lix_integrations import __version__

    result = lix("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"lix (lix-integrations) {__version__}"


@pytest.mark.parametrize("command", [[], ["stats"], ["sessions", "list"], ["calibrate"], ["archive", "cat"]])
def test_help_shows_flags_without_a_value_placeholder(command: list[str]) -> None:
    result = lix(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout
    assert "Usage: lix " in result.stdout


def test_piped_tables_keep_each_row_on_one_line(store: str) -> None:
    # Piped (not a terminal) and no COLUMNS: rich would fit the table to 80 columns, a word a line.
    result = lix("inspect", "--url", store, env={"COLUMNS": ""})
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "Shakespeare" in line)
    assert "Who wrote Hamlet?" in row
    sessions = lix("inspect", "--url", store, "--tier", "sessions", env={"COLUMNS": ""})
    assert any("chat-1" in line and "5" in line for line in sessions.stdout.splitlines())
    cleared = lix("clear", "--url", store, "--yes", env={"COLUMNS": ""})  # a title wider than its table
    assert f"cleared namespace 'default' of {store}" in cleared.stdout.splitlines()


# -- trap 1: the demo and bench keep to a namespace of their own; `lix clear` --------------------------------------


def test_bench_with_the_fake_embedder_after_the_default_demo(tmp_path: Path) -> None:
    from lix_integrations.embedders import DEFAULT_EMBEDDER_NAME

    # What `make demo` leaves in the default store: the demo namespace written by the default model (384-d),
    # next to the user's own entries in the default namespace.
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    default_model = FakeEmbedder(384, name=DEFAULT_EMBEDDER_NAME)
    with Engine(url, embedder=default_model, namespace="lix-demo") as engine:
        engine.semantic.update("What is the capital of France?", "canned", "Paris.")
    with Engine(url, embedder=default_model) as engine:
        engine.semantic.update("mine", "gpt-x", "keep me")
    env = {"LIX_CACHE_DIR": str(tmp_path)}
    rows = ok_json("bench", "--embedder", "fake", "--latency", "0", env=env)
    assert [r["outcome"] for r in rows].count("miss") >= 4
    again = ok_json("bench", "--embedder", "fake", "--latency", "0", env=env)
    assert [r["outcome"] for r in again] == [r["outcome"] for r in rows]  # cleared first: the same table
    # The default demo's namespace still opens with the default model, and the user's entry is untouched.
    with Engine(url, embedder=default_model, namespace="lix-demo") as engine:
        assert engine.semantic.count() == 1
    assert ok_json("stats", env=env)["semantic_entries"] == 1


def test_bench_takes_url_and_namespace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    env = {"LIX_CACHE_DIR": str(tmp_path / "default")}
    rows = ok_json("bench", "--embedder", "fake", "--latency", "0", "--url", url, "-n", "trial", env=env)
    misses = sum(r["outcome"] == "miss" for r in rows)
    assert ok_json("stats", "--url", url, "--namespace", "trial")["semantic_entries"] == misses
    assert not (tmp_path / "default").exists()  # the default store was never opened


def test_clear_asks_then_deletes_one_namespace(store: str) -> None:
    with Engine(store, embedder=FakeEmbedder(), namespace="other") as engine:
        engine.semantic.update("elsewhere", "gpt-x", "stays")
    refused = lix("clear", "--url", store, stdin="n\n")
    assert refused.returncode == 1 and "nothing deleted" in refused.stderr
    assert "Delete every entry and session of namespace 'default'" in refused.stderr
    assert ok_json("stats", "--url", store)["semantic_entries"] == 3
    no_answer = lix("clear", "--url", store)  # stdin at its end: no confirmation
    assert no_answer.returncode == 1 and ok_json("stats", "--url", store)["sessions"] == 2

    sessions_only = lix("clear", "--url", store, "--tier", "sessions", "--json", stdin="y\n")
    assert sessions_only.returncode == 0, sessions_only.stderr
    assert json.loads(sessions_only.stdout)["deleted"] == {"sessions": 2}
    assert ok_json("stats", "--url", store)["semantic_entries"] == 3

    done = ok_json("clear", "--url", store, "--yes")
    assert done["deleted"]["semantic"] == 3 and done["namespace"] == "default"
    assert ok_json("stats", "--url", store)["semantic_entries"] == 0
    assert ok_json("stats", "--url", store, "--namespace", "other")["semantic_entries"] == 1
    bad = lix("clear", "--url", store, "--tier", "bogus", "--yes")
    assert bad.returncode == 1 and "--tier must be" in bad.stderr


# -- trap 10: read commands never create a store ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["inspect"],
        ["inspect", "--tier", "sessions"],
        ["sessions", "list"],
        ["sessions", "show", "chat-1"],
        ["sessions", "export", "chat-1"],
        ["sessions", "delete", "chat-1"],
        ["cleanup"],
        ["clear", "--yes"],
    ],
)
def test_read_commands_on_a_missing_store_create_nothing(tmp_path: Path, command: list[str]) -> None:
    typo = tmp_path / "typo.db"
    result = lix(*command, "--url", f"sqlite:///{typo}")
    assert result.returncode == 1
    assert result.stderr.strip() == f"lix: error: no store at {typo} (nothing was created)"
    assert list(tmp_path.iterdir()) == []
    # The default store too, when it was never written: its directory is not created either.
    default_dir = tmp_path / "fresh-machine"
    result = lix(*command, env={"LIX_CACHE_DIR": str(default_dir)})
    assert result.returncode == 1 and "no store at" in result.stderr
    assert not default_dir.exists()


def test_inspect_scopes_follow_the_api_rule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scopes.db'}"
    with Engine(url, embedder=FakeEmbedder()) as engine:
        engine.semantic.update("nested question", "m", "B1", scope="tenant-b/user-1")
        engine.semantic.update("other question", "m", "A1", scope="tenant-a")
    shown = ok_json("inspect", "--url", url, "--scope", "tenant-b")
    assert [e["scope"] for e in shown] == ["tenant-b/user-1"]
    assert [e["payload"] for e in ok_json("inspect", "--url", url, "--scope", shown[0]["scope"])] == ["B1"]
    bad = lix("inspect", "--url", url, "--scope", "tenant-b//user-1")
    assert bad.returncode == 1 and "empty name" in bad.stderr


# -- trap 8: calibrate checks for matplotlib first and reuses vectors on reruns ----------------------------------


def _pairs(tmp_path: Path) -> Path:
    pairs = tmp_path / "pairs.jsonl"
    rows = [
        {"q1": "alpha beta gamma", "q2": "gamma beta alpha", "label": 1},
        {"q1": "red green blue", "q2": "blue red green", "label": 1},
        {"q1": "one two three", "q2": "seven eight nine", "label": 0},
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return pairs


def test_calibrate_plot_without_matplotlib_fails_before_embedding(tmp_path: Path) -> None:
    shadow = tmp_path / "no-matplotlib" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('matplotlib is not installed here')\n")
    store = tmp_path / "calibrate.db"
    pythonpath = os.pathsep.join(p for p in (str(shadow.parent), os.environ.get("PYTHONPATH")) if p)
    result = lix(
        "calibrate",
        str(_pairs(tmp_path)),
        "--embedder",
        "fake",
        "--plot",
        str(tmp_path / "curve.png"),
        "--url",
        f"sqlite:///{store}",
        env={"PYTHONPATH": pythonpath},
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        'lix: error: --plot needs matplotlib: pip install "lix-integrations[plot]"'
    )
    assert not store.exists()  # nothing was embedded, no store opened


def test_calibrate_reruns_read_the_vectors_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calibrate.db'}"
    pairs = str(_pairs(tmp_path))
    first = ok_json("calibrate", pairs, "--embedder", "fake", "--target-precision", "0.99", "--url", url)
    stats = ok_json("stats", "--url", url, "--namespace", "lix-calibrate-lix-fake-bow-64")
    assert stats["embeddings"] == 6  # the six distinct texts, stored by the embedding tier
    again = ok_json("calibrate", pairs, "--embedder", "fake", "--target-precision", "0.99", "--url", url)
    assert again["threshold"] == first["threshold"] == 0.5
    assert ok_json("stats", "--url", url, "-n", "lix-calibrate-lix-fake-bow-64")["embeddings"] == 6


def test_every_command_that_opens_a_store_takes_url_and_namespace() -> None:
    import typer.main

    from lix_integrations.cli import app

    def leaves(command: object, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], object]]:
        children = getattr(command, "commands", None)
        if not children:
            return [(path, command)]
        return [leaf for name, child in children.items() for leaf in leaves(child, (*path, name))]

    commands = leaves(typer.main.get_command(app), ())
    assert len(commands) >= 12
    for path, command in commands:
        if path == ("archive", "cat"):  # reads a file, opens no store
            continue
        options = {opt for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
        assert {"--url", "--namespace"} <= options, path
