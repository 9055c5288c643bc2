"""The Redis backend's Lua scripts, one ``.lua`` file each, loaded with `importlib.resources`.

A script may start with fragments: files defining shared ``local function``\\ s (``remove``, ``with_acc``,
``vectors``, ``search``; ``kv_remove``, ``kv_store`` for the key-value scripts), prepended to the script's own
file in the order given, so one definition serves every script that needs it (Redis runs each script as one
chunk; there is no ``require``).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from ..commands import Script

__all__ = ["script"]


@cache
def _text(name: str) -> str:
    return (files(__package__) / f"{name}.lua").read_text(encoding="utf-8")


def script(name: str, *fragments: str) -> Script:
    """The script in ``<name>.lua``, after the fragments ``<fragment>.lua`` (SHA computed once, see Script)."""
    return Script(name, "".join(_text(f) for f in fragments) + _text(name))
