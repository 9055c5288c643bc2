"""The public surface is deliberate, and no read path can execute stored data."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import lix_integrations

PACKAGE = Path(lix_integrations.__file__).parent


def test_public_names_are_pinned() -> None:
    assert sorted(lix_integrations.__all__) == sorted(
        [
            "DEFAULT_THRESHOLD",
            "AsyncEngine",
            "BackendError",
            "Candidate",
            "ConfigError",
            "Engine",
            "EngineConfig",
            "EngineStats",
            "InvalidIdError",
            "InvalidInputError",
            "InvalidPromptError",
            "InvalidVectorError",
            "LixError",
            "SamplingPolicy",
            "SemanticHit",
            "SemanticStats",
            "SerializationError",
            "SettingsMismatchError",
            "__version__",
            "current_scope",
            "default_store_path",
            "lix_scope",
        ]
    )
    for name in lix_integrations.__all__:
        assert hasattr(lix_integrations, name)


def test_importing_the_package_imports_no_framework() -> None:
    code = (
        "import sys, lix_integrations\n"
        "bad = [m for m in sys.modules if m.startswith(('langchain', 'langgraph', 'llama_index', 'sentence_transformers', 'torch'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_never_imports_a_framework() -> None:
    for path in list((PACKAGE / "engine").rglob("*.py")) + list((PACKAGE / "tiers").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("langchain", "langgraph", "llama_index")), (
                    f"{path} imports {name}"
                )


def test_no_pickle_or_eval_anywhere_in_the_package() -> None:
    forbidden_modules = {"pickle", "cPickle", "dill", "marshal", "shelve"}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not {a.name.split(".")[0] for a in node.names} & forbidden_modules, path
            elif isinstance(node, ast.ImportFrom) and node.module:
                assert node.module.split(".")[0] not in forbidden_modules, path
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in {"eval", "exec"}, f"{path}:{node.lineno}"


def test_version_is_defined_once() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert lix_integrations.__version__.count(".") == 2


def test_ci_runs_the_readme_test_command() -> None:
    root = PACKAGE.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in ci


def test_the_langgraph_subpackage_exports_lazily() -> None:
    code = (
        "import sys, lix_integrations.langgraph as lg\n"
        "assert not [m for m in sys.modules if m.startswith('langgraph')]\n"
        "assert sorted(lg.__all__) == ['LixCheckpointSaver', 'LixNodeCache', 'LixStore', 'amigrate_history_to_thread', 'migrate_history_to_thread']\n"
        "try:\n"
        "    lg.NoSuchName\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('unknown names must raise AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
