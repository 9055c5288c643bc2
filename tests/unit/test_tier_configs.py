"""Each tier receives only its own sub-configuration (issue 16, item 2): never the whole `EngineConfig`.

A tier that reads the engine's configuration depends on every option of every other tier, and any new option is
one more thing its tests must build; so no module of ``lix_integrations/tiers`` may import or accept
`EngineConfig`, and the engine hands each tier its own object (plus what it truly needs: namespace, clock).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import lix_integrations.tiers as tiers_package
from lix_integrations import Engine
from lix_integrations.config import (
    CheckpointConfig,
    EmbeddingConfig,
    EngineConfig,
    KvConfig,
    SemanticConfig,
    SessionConfig,
    ToolsConfig,
)
from lix_integrations.testing import FakeEmbedder

TIERS = Path(tiers_package.__file__).parent


def _tier_modules() -> list[str]:
    return [f"{tiers_package.__name__}.{m.name}" for m in pkgutil.iter_modules([str(TIERS)])]


def test_no_tier_module_imports_the_engine_config() -> None:
    offenders = []
    for path in sorted(TIERS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and any(a.name == "EngineConfig" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Name | ast.Attribute) and "EngineConfig" in ast.unparse(node):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []


def test_no_tier_constructor_accepts_the_engine_config() -> None:
    offenders = []
    for name in _tier_modules():
        module = importlib.import_module(name)
        for cls_name, cls in vars(module).items():
            if not inspect.isclass(cls) or cls.__module__ != name:
                continue
            for param in inspect.signature(cls.__init__).parameters.values():
                if "EngineConfig" in str(param.annotation):
                    offenders.append(f"{name}.{cls_name}({param.name})")
    assert offenders == []


def test_the_engine_hands_each_tier_its_own_config() -> None:
    config = EngineConfig(
        url="memory://",
        namespace="own",
        threshold=0.9,
        ttl=60.0,
        kv=KvConfig(ttl=5.0),
        sessions=SessionConfig(hot_window=3),
        embeddings=EmbeddingConfig(front_entries=7),
        tools=ToolsConfig(),
    )
    with Engine(config=config, embedder=FakeEmbedder()) as engine:
        core = engine._core
        assert core.semantic.config == config.semantic
        assert type(config.semantic) is SemanticConfig
        assert (config.semantic.threshold, config.semantic.ttl) == (0.9, 60.0)
        assert core.semantic.namespace == "own"
        assert core.sessions.config is config.sessions and core.sessions.namespace == "own"
        assert core.kv.config is config.kv
        assert core.embeddings.config is config.embeddings
        assert core.tools.config is config.tools
        assert type(core.checkpoints.config) is CheckpointConfig


def test_every_configuration_dataclass_lives_in_the_config_package() -> None:
    """Issue 16 item 2: a class named ``*Config`` or ``*Options`` that is a dataclass is configuration, and
    configuration has one home (``lix_integrations/config``), below every layer that reads it. Keyword
    TypedDicts (``EngineOptions``) type a signature and may live beside it."""
    package = TIERS.parent
    config_dir = package / "config"
    strays = []
    for path in sorted(package.rglob("*.py")):
        if config_dir in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or not node.name.endswith(("Config", "Options")):
                continue
            decorators = [ast.unparse(d) for d in node.decorator_list]
            if any(d.startswith(("dataclass", "dataclasses.dataclass")) for d in decorators):
                strays.append(f"{path.relative_to(package)}:{node.lineno} {node.name}")
    assert strays == []
