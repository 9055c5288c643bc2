"""What every command group of ``lix`` shares: the options, opening a store, errors as one line, output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from ..config import default_store_path
from ..engine.engine import Engine
from ..errors import LixError

_out = Console(highlight=False, soft_wrap=False)
if not _out.is_terminal:
    # Piped into a file or another program there is no screen to fit: a narrow default width would fold every
    # cell to a word a line. Rows stay whole (tables do not expand, so the huge width adds no padding).
    _out = Console(highlight=False, soft_wrap=False, width=100_000)
_err = Console(stderr=True, highlight=False)


def _untype_flags(params: list[Any]) -> list[Any]:
    """Give on/off flags an empty metavar: Typer's rich help otherwise shows ``<bool>`` for a flag taking none."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class LixCommand(TyperCommand):
    """A ``lix`` command: help shows flags without a value placeholder."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untype_flags(list(super().get_params(ctx)))


class LixGroup(TyperGroup):
    """A ``lix`` command group: help shows flags without a value placeholder."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untype_flags(list(super().get_params(ctx)))


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Store URL (memory://, sqlite:///path.db, redis://...); default: environment."
    ),
]


def namespace_option(help: str) -> Any:
    """``--namespace`` / ``-n``, with what it means for the command (``Annotated[str | None, ...]``)."""
    return typer.Option("--namespace", "-n", help=help)


NamespaceOpt = Annotated[str | None, namespace_option("Namespace (default: LIX_NAMESPACE).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
EmbedderOpt = Annotated[
    str,
    typer.Option(
        "--embedder",
        help="'default' (all-MiniLM-L6-v2, offline) or 'fake' (hashed bag of words, no model: for trying out).",
    ),
]


_F = TypeVar("_F", bound=Callable[..., Any])


class LixTyper(typer.Typer):
    """The ``lix`` app and its command groups: groups and commands show flags without a value placeholder."""

    def __init__(self, **options: Any) -> None:
        super().__init__(no_args_is_help=True, cls=LixGroup, **options)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[_F], _F]:
        return super().command(name, cls=cls or LixCommand, **options)


def command_group(help: str) -> LixTyper:
    """A ``lix`` command group (``lix sessions ...``): its help shows when it is called without a command."""
    return LixTyper(help=help)


class _UserError(Exception):
    """Bad input detected by the CLI itself."""


def _fail(message: str) -> NoReturn:
    _err.print(f"lix: error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn every expected failure into one line on stderr and exit status 1."""
    try:
        yield
    except typer.Exit:
        raise
    except (LixError, ValueError, OSError, _UserError, ImportError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail(message)


def _embedder(choice: str) -> Any:
    if choice == "default":
        return None
    if choice == "fake":
        from ..testing.fakes import FakeEmbedder

        return FakeEmbedder()
    raise _UserError(f"--embedder must be 'default' or 'fake', got {choice!r}")


def _store_file(url: str | None) -> Path | None:
    """The SQLite file a command would open (``--url``, else ``LIX_URL``, else the default store), if any."""
    target = url if url is not None else os.environ.get("LIX_URL") or None
    if target is None:
        return default_store_path()
    if target.lower().startswith("sqlite:///"):
        path = target[len("sqlite:///") :]
        if path and path != ":memory:" and "?" not in path and "#" not in path:
            return Path(path).expanduser()
    return None


def _open(
    url: str | None, namespace: str | None, *, embedder: Any = None, must_exist: bool = False
) -> Engine:
    """The engine for a command. Given no ``embedder`` (the admin commands) it opens any store, whatever model
    wrote it, and loads none: only what computes vectors checks the embedder's stored settings (see
    `stored_settings`).

    ``must_exist`` is for commands that only read or delete: opening a SQLite URL creates the file, and a typo
    in ``--url`` would then report an empty store (and leave a stray database) instead of the mistake.
    """
    if must_exist:
        path = _store_file(url)
        if path is not None and not path.is_file():
            raise _UserError(f"no store at {path} (nothing was created)")
    options: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
    if url is not None:
        return Engine(url, embedder=embedder, **options)
    return Engine.from_env(embedder=embedder, **options)


@contextmanager
def _store(url: str | None, namespace: str | None, **positive: int) -> Iterator[Engine]:
    """An existing store, for a command that reads or deletes (see ``_open``'s ``must_exist``), every failure
    reported as one line (see ``_errors``); each of ``positive`` (``limit=limit``) must be at least 1."""
    with _errors():
        for name, value in positive.items():
            if value < 1:
                raise _UserError(f"--{name} must be positive, got {value}")
        with _open(url, namespace, must_exist=True) as engine:
            yield engine


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _short(text: Any, width: int = 60) -> str:
    value = text if isinstance(text, str) else json.dumps(text, default=str, ensure_ascii=False)
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_err,
        transient=True,
    )


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    # The title is a line of its own: as the table's caption rich wraps it to the table's width, and a long
    # store URL over a narrow table came out a few characters a line.
    _out.print(title, markup=False, highlight=False, soft_wrap=True)
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    _out.print(table)


def _role(message: dict[str, Any]) -> str:
    for key in ("role", "type"):
        if isinstance(message.get(key), str):
            return str(message[key])
    data = message.get("data")
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return str(data["type"])
    return "-"
