"""The repository stands alone: nothing in it reads outside it, and its set-up changes nothing outside it.

A fresh clone on a fresh machine must pass the whole suite, so tests, notebooks, benchmarks and docs read only
files inside the repository (the labelled pairs and conversations live in ``benchmarks/data/``), and the test
server set-up installs nothing system-wide.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve()
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".sh", ".toml", ".yml", ".yaml", ".cfg", ".txt", ".lua", ""}
# Spelled in pieces so that this file does not match its own search.
OUTSIDE_PATHS = ["../" + "shared", "/work/" + "shared", '"shared" / ' + '"data"', "parents[3]"]
MIRROR_HOSTS = [
    "deb." + "debian.org",
    "security." + "debian.org",
    "archive." + "ubuntu.com",
    "ftp." + "debian.org",
]


def _tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.splitlines() if (ROOT / name).is_file()]


def _text_files() -> list[Path]:
    return [
        p
        for p in _tracked_files()
        if p.suffix in TEXT_SUFFIXES and p.resolve() != THIS and "benchmarks/data" not in p.as_posix()
    ]


def _text(path: Path) -> str:
    """A file's text; a notebook's as its cells' sources, so escaped quotes do not hide a path."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
    return text


def outside_paths(path: Path) -> list[str]:
    text = _text(path)
    return [needle for needle in OUTSIDE_PATHS if needle in text]


def test_nothing_in_the_repository_reads_outside_it() -> None:
    offenders = [f"{p.relative_to(ROOT)}: {needle}" for p in _text_files() for needle in outside_paths(p)]
    assert offenders == []


def test_the_repository_names_no_package_mirror_host() -> None:
    offenders = [
        f"{p.relative_to(ROOT)}: {host}"
        for p in _text_files()
        for host in MIRROR_HOSTS
        if host in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


@pytest.mark.parametrize("name", ["qqp", "paws", "mrpc", "gptcache"])
def test_the_labelled_pairs_are_in_the_repository(name: str) -> None:
    path = ROOT / "benchmarks" / "data" / "pairs" / f"{name}_dev.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) > 900 and {r["label"] for r in rows} == {0, 1}
    assert f"`{name}_dev.jsonl`" in (ROOT / "benchmarks" / "data" / "SOURCES.md").read_text(encoding="utf-8")


def test_the_conversations_are_in_the_repository_with_their_licence() -> None:
    folder = ROOT / "benchmarks" / "data" / "conversations"
    conversations = json.loads((folder / "hh_harmless_dev.json").read_text(encoding="utf-8"))
    assert len(conversations) == 1156 and {m["role"] for m in conversations[0]} <= {"user", "assistant"}
    assert "MIT" in (folder / "LICENSE.hh-rlhf").read_text(encoding="utf-8")


def test_no_data_file_is_inside_the_package() -> None:
    package = ROOT / "lix_integrations"
    assert not [p for p in package.rglob("*") if p.suffix in {".jsonl", ".json"} and "pairs" in p.name]


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for top in paths:
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file() and not path.is_symlink():
                digest.update(str(path).encode() + b"\0")
                digest.update(path.read_bytes())
            else:
                digest.update(str(path).encode() + b"\1")
    return digest.hexdigest()


@pytest.mark.slow
def test_server_set_up_changes_nothing_outside_the_repository(tmp_path: Path) -> None:
    """The script fetches libssl1.1 with a private apt configuration into the given folder, and nothing else."""
    system = [Path("/etc/apt"), Path("/var/lib/apt/lists"), Path("/var/cache/apt/archives")]
    before = _digest(system)
    target = tmp_path / "libssl1.1"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install-test-servers.sh")],
        cwd=ROOT,
        env={**os.environ, "LIX_LIBSSL11_DIR": str(target), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(target.glob("usr/lib/*/libssl.so.1.1"))
    assert _digest(system) == before
