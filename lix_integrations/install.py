"""How to install an optional part, worded once for every error message, the CLI and the docs.

The package is installed from its repository (it is not on a package index): hints name the commands that work
from a clone, ``pip install '.[EXTRA]'``, or from a wheel built there, never the distribution's name with an
extra, which a package index cannot resolve.
"""

from __future__ import annotations

__all__ = ["install_hint"]


def install_hint(extra: str) -> str:
    """The command that installs ``extra`` (``local``, ``plot``, ``otel``, ``langgraph``, ``agents`` ...)."""
    from . import __version__

    wheel = f"lix_integrations-{__version__}-py3-none-any.whl"
    return (
        f"pip install '.[{extra}]' in a clone of the lix-integrations repository, or "
        f"pip install 'dist/{wheel}[{extra}]' with a wheel built there (pip wheel --no-deps -w dist .)"
    )
