"""The ``lix`` command: look into a cache, move sessions in and out, clean up, calibrate the threshold, try it.

Every command opens the store named by ``--url`` (``memory://``, ``sqlite:///path.db``, ``redis://host:6379/0``)
or, without it, the one the environment names (``LIX_URL``, ``LIX_NAMESPACE``... as ``Engine.from_env`` reads
them), else the embedded default store. Output is a table for people and JSON with ``--json`` for scripts.
Bad input ends with exit status 1 and one line on stderr (``lix: error: ...``), never a traceback.

Hit counters are per process (they are not stored), so ``lix stats`` reports what the store holds; a running
app reads its own counters with ``engine.stats()``.

One module per command group: ``store`` (stats, inspect, cleanup, clear), ``sessions``, ``archive``,
``checkpoints`` (LangGraph threads), ``tune`` (calibrate, bench); ``_common`` holds what they share.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import LixTyper, _out
from .archive import archive_app
from .checkpoints import checkpoints_app
from .sessions import sessions_app
from .store import cleanup, clear, inspect, stats
from .tune import bench, calibrate

__all__ = ["app", "main"]

app = LixTyper(
    name="lix",
    help="Inspect, maintain and tune a lix-integrations cache.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        _out.print(f"lix (lix-integrations) {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Inspect, maintain and tune a lix-integrations cache."""


app.command()(stats)
app.command()(inspect)
app.add_typer(sessions_app, name="sessions")
app.add_typer(archive_app, name="archive")
app.add_typer(checkpoints_app, name="checkpoints")
app.command()(cleanup)
app.command()(clear)
app.command()(calibrate)
app.command()(bench)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="lix")
