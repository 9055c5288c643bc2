"""lix-integrations: semantic LLM cache, embedding cache, tool cache and chat memory for LangChain and LlamaIndex.

Framework adapters live in ``lix_integrations.langchain`` and ``lix_integrations.llama_index`` and are imported
only when used, so importing this package never imports a framework.
"""

from ._version import __version__
from .config import EngineConfig, SamplingPolicy, default_store_path
from .engine.engine import AsyncEngine, Engine
from .engine.stats import EngineStats
from .errors import (
    BackendError,
    ConfigError,
    InvalidIdError,
    InvalidInputError,
    InvalidPromptError,
    InvalidVectorError,
    LixError,
    SerializationError,
    SettingsMismatchError,
)
from .kernel.scope import current_scope, lix_scope
from .kernel.semantic_stats import SemanticStats
from .tiers.semantic import DEFAULT_THRESHOLD, Candidate, SemanticHit

__all__ = [
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
