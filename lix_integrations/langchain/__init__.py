"""LangChain adapters. Importing this subpackage imports ``langchain_core``; ``import lix_integrations`` does not.

The agent middlewares need the ``langchain`` package (the ``agents`` extra) and are imported on first use, so
the rest works without it.
"""

# ruff: noqa: E402 (the extra is checked before the modules below import their framework)
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..install import require

require("langchain", "lix_integrations.langchain")

from ..config import EmbeddingConfig, EngineConfig, InvalidationRule, SessionConfig, ToolPolicy, ToolsConfig
from .cache import LixSemanticCache
from .chat_history import LixChatMessageHistory
from .embeddings import LixCachedEmbeddings
from .tools import LixCachedTool, cache_tools

if TYPE_CHECKING:
    from .middleware import LixCacheMiddleware, LixToolCacheMiddleware

# The configuration objects users pass to these adapters' engines are exported here too, so one import line serves.
__all__ = [
    "EmbeddingConfig",
    "EngineConfig",
    "InvalidationRule",
    "LixCacheMiddleware",
    "LixCachedEmbeddings",
    "LixCachedTool",
    "LixChatMessageHistory",
    "LixSemanticCache",
    "LixToolCacheMiddleware",
    "SessionConfig",
    "ToolPolicy",
    "ToolsConfig",
    "cache_tools",
]

_LAZY = frozenset({"LixCacheMiddleware", "LixToolCacheMiddleware"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        require("agents", f"lix_integrations.langchain.{name}")
        from . import middleware

        return getattr(middleware, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
