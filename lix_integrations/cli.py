"""The ``lix`` command: look into a cache, move sessions in and out, clean up, calibrate the threshold, try it.

Every command opens the store named by ``--url`` (``memory://``, ``sqlite:///path.db``, ``redis://host:6379/0``)
or, without it, the one the environment names (``LIX_URL``, ``LIX_NAMESPACE``... as ``Engine.from_env`` reads
them), else the embedded default store. Output is a table for people and JSON with ``--json`` for scripts.
Bad input ends with exit status 1 and one line on stderr (``lix: error: ...``), never a traceback.

Hit counters are per process (they are not stored), so ``lix stats`` reports what the store holds; a running
app reads its own counters with ``engine.stats()``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .embedders import DEFAULT_EMBEDDER_NAME
from .engine.engine import Engine
from .errors import LixError, SettingsMismatchError

__all__ = ["app", "main"]

app = typer.Typer(
    name="lix",
    help="Inspect, maintain and tune a lix-integrations cache.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sessions_app = typer.Typer(help="List, show, export, import and delete chat sessions.", no_args_is_help=True)
archive_app = typer.Typer(
    help="Read session archives (.lxa, and lix-open-cache .huff).", no_args_is_help=True
)
app.add_typer(sessions_app, name="sessions")
app.add_typer(archive_app, name="archive")

_out = Console(highlight=False, soft_wrap=False)
_err = Console(stderr=True, highlight=False)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="Store URL (memory://, sqlite:///path.db, redis://...); default: environment."
    ),
]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", "-n", help="Namespace (default: LIX_NAMESPACE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
EmbedderOpt = Annotated[
    str,
    typer.Option(
        "--embedder",
        help="'default' (all-MiniLM-L6-v2, offline) or 'fake' (hashed bag of words, no model: for trying out).",
    ),
]


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


class _StoredModel:
    """Stands in for the model a store was written with, for commands that never embed (inspect, sessions...).

    Opening a store checks its stored embedder name and dimension; an admin command must be able to open any
    store without loading (or even having) that model, and refuses clearly if it would have to embed.
    """

    def __init__(self, name: str, dimension: int | None) -> None:
        self._name = name
        self._dimension = dimension

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int | None:
        return self._dimension

    def embed(self, text: str) -> list[float]:
        raise _UserError(f"this command cannot embed text with the store's model {self._name!r}")

    async def aembed(self, text: str) -> list[float]:
        return self.embed(text)


def _embedder(choice: str) -> Any:
    if choice == "default":
        return None
    if choice == "fake":
        from .testing.fakes import FakeEmbedder

        return FakeEmbedder()
    raise _UserError(f"--embedder must be 'default' or 'fake', got {choice!r}")


def _open(url: str | None, namespace: str | None, *, embedder: Any = None, adopt: bool = True) -> Engine:
    """The engine for a command; with ``adopt`` a store written by another model opens without that model."""
    options: dict[str, Any] = {} if namespace is None else {"namespace": namespace}
    # A fresh store gets the settings a default Engine() would give it; an existing one keeps its own.
    model = (
        embedder if embedder is not None else (_StoredModel(DEFAULT_EMBEDDER_NAME, 384) if adopt else None)
    )
    for _ in range(3):  # embedder, then dimension, may each be adopted from the store
        try:
            if url is not None:
                return Engine(url, embedder=model, **options)
            return Engine.from_env(embedder=model, **options)
        except SettingsMismatchError as exc:
            if not adopt or not isinstance(model, _StoredModel) or exc.field not in ("embedder", "dimension"):
                raise
            if exc.field == "embedder":
                model = _StoredModel(str(exc.stored), None)  # its dimension is then read from the store
            else:
                model = _StoredModel(model.name, int(str(exc.stored)))
    raise _UserError("cannot open the store with its stored settings")


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
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    _out.print(table)


# -- stats ------------------------------------------------------------------------------------------------------


@app.command()
def stats(url: UrlOpt = None, namespace: NamespaceOpt = None, json_out: JsonOpt = False) -> None:
    """What the store holds: semantic entries, sessions and their archives, cached embeddings."""
    with _errors(), _open(url, namespace) as engine:
        archive_dir = engine.sessions.archive_dir
        files = [p for p in archive_dir.iterdir() if p.is_file()] if archive_dir.is_dir() else []
        vectors, vector_bytes = engine.embeddings.usage()
        data = {
            "url": engine.url,
            "namespace": engine.namespace,
            "semantic_entries": engine.semantic.count(),
            "sessions": len(engine.sessions.list_sessions()),
            "archive_dir": str(archive_dir),
            "archive_files": len(files),
            "archive_bytes": sum(p.stat().st_size for p in files),
            "embeddings": vectors,
            "embedding_bytes": vector_bytes,
        }
    if json_out:
        _print_json(data)
    else:
        _table(f"lix store {data['url']}", ["what", "value"], [[k, v] for k, v in data.items()])


# -- inspect ----------------------------------------------------------------------------------------------------


@app.command()
def inspect(
    tier: Annotated[str, typer.Option(help="Tier to list: 'semantic' or 'sessions'.")] = "semantic",
    scope: Annotated[
        str | None, typer.Option(help="Only this scope and scopes nested in it (sessions: an id prefix).")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Only entries of these model settings (the llm_string).")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 50,
    after_id: Annotated[int, typer.Option(help="Continue after this entry id (paging).")] = 0,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Entries of a tier, filterable by scope and model."""
    with _errors():
        if limit < 1:
            raise _UserError(f"--limit must be positive, got {limit}")
        if tier not in ("semantic", "sessions"):
            raise _UserError(f"--tier must be 'semantic' or 'sessions', got {tier!r}")
        with _open(url, namespace) as engine:
            now = engine._core.clock.now()
            rows: list[dict[str, Any]]
            if tier == "sessions":
                ids = engine.sessions.list_sessions(scope or "", limit=limit)
                rows = [{"session_id": sid, "messages": engine.sessions.count(sid)} for sid in ids]
            else:
                entries = engine.semantic.entries(
                    scope=scope, llm_string=model, after_id=after_id, limit=limit
                )
                rows = [
                    {
                        **dataclasses.asdict(e),
                        "expired": e.expires_at is not None and e.expires_at <= now,
                    }
                    for e in entries
                ]
    if json_out:
        _print_json(rows)
    elif tier == "sessions":
        _table("sessions", ["session", "messages"], [[r["session_id"], r["messages"]] for r in rows])
    else:
        _table(
            f"semantic entries ({len(rows)})",
            ["id", "scope", "model key", "prompt", "answer", "tokens", "created", "expires"],
            [
                [
                    r["id"],
                    r["scope"],
                    r["llm_key"][:10],
                    _short(r["prompt"], 50),
                    _short(r["payload"], 40),
                    "-" if r["usage"] is None else r["usage"]["input_tokens"] + r["usage"]["output_tokens"],
                    _when(r["created_at"]),
                    "expired" if r["expired"] else _when(r["expires_at"]),
                ]
                for r in rows
            ],
        )


# -- sessions ---------------------------------------------------------------------------------------------------


@sessions_app.command("list")
def sessions_list(
    prefix: Annotated[str, typer.Option(help="Only session ids starting with this.")] = "",
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Session ids, sorted."""
    with _errors(), _open(url, namespace) as engine:
        ids = engine.sessions.list_sessions(prefix, limit=limit)
    if json_out:
        _print_json(ids)
    else:
        _table(f"sessions ({len(ids)})", ["session"], [[sid] for sid in ids])


@sessions_app.command("show")
def sessions_show(
    session_id: str,
    last: Annotated[
        int | None, typer.Option(help="Only the last N messages (default: the whole history).")
    ] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The messages of one session (archived ones included)."""
    from .tiers.sessions import message_text

    with _errors(), _open(url, namespace) as engine:
        if last is not None and last < 1:
            raise _UserError(f"--last must be positive, got {last}")
        messages = (
            engine.sessions.get_full_history(session_id)
            if last is None
            else engine.sessions.get_context(session_id, last)
        )
    if json_out:
        _print_json(messages)
    else:
        rows = [[i, _role(m), _short(message_text(m), 90)] for i, m in enumerate(messages)]
        _table(f"session {session_id} ({len(messages)} messages)", ["#", "role", "text"], rows)


def _role(message: dict[str, Any]) -> str:
    for key in ("role", "type"):
        if isinstance(message.get(key), str):
            return str(message[key])
    data = message.get("data")
    if isinstance(data, dict) and isinstance(data.get("type"), str):
        return str(data["type"])
    return "-"


@sessions_app.command("export")
def sessions_export(
    session_id: str,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
) -> None:
    """Write a session's whole history as JSON Lines (one message per line), for `lix sessions import`."""
    with _errors(), _open(url, namespace) as engine:
        messages = engine.sessions.get_full_history(session_id)
        text = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            _err.print(f"exported {len(messages)} messages to {output}")


def _read_messages(path: Path) -> list[Any]:
    """Messages from JSON Lines, our ``.lxa`` archive or a lix-open-cache ``.huff`` file."""
    from .archive import read_archive, read_huff

    if not path.is_file():
        raise _UserError(f"{path}: no such file")
    if path.suffix == ".huff":
        return list(read_huff(path).turns)
    if path.suffix == ".lxa":
        contents = read_archive(path, strict=True)
        if contents is None:
            raise _UserError(f"{path}: not a lix archive")
        return [message for _, message in contents.items]
    messages: list[Any] = []
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise _UserError(f"{path}, line {lineno}: not valid JSON ({exc})") from None
            if not isinstance(value, dict):
                raise _UserError(f"{path}, line {lineno}: a message must be a JSON object")
            messages.append(value)
    return messages


@sessions_app.command("import")
def sessions_import(
    session_id: str,
    file: Path,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Append messages to a session from JSON Lines, a .lxa archive or a lix-open-cache .huff file."""
    with _errors():
        messages = _read_messages(file)
        with _open(url, namespace) as engine, _progress() as progress:
            task = progress.add_task(f"importing into {session_id}", total=len(messages))
            for start in range(0, len(messages), 200):
                batch = messages[start : start + 200]
                engine.sessions.add_messages(session_id, batch)
                progress.advance(task, len(batch))
            total = engine.sessions.count(session_id)
    result = {"session_id": session_id, "imported": len(messages), "messages": total}
    if json_out:
        _print_json(result)
    else:
        _out.print(f"imported {len(messages)} messages into {session_id} (now {total})")


@sessions_app.command("delete")
def sessions_delete(
    session_id: str,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete a session and its archive."""
    with _errors(), _open(url, namespace) as engine:
        existed = engine.sessions.delete_session(session_id)
    if json_out:
        _print_json({"session_id": session_id, "deleted": existed})
    elif existed:
        _out.print(f"deleted session {session_id}")
    else:
        _fail(f"no session {session_id!r}")


# -- archive ----------------------------------------------------------------------------------------------------


@archive_app.command("cat")
def archive_cat(file: Path, json_out: JsonOpt = False) -> None:
    """Decode an archive: ours (.lxa) or lix-open-cache's (.huff, recognised by its CAv1 header)."""
    from .archive import read_archive, read_huff
    from .archive.huff import HUFF_MAGIC

    with _errors():
        if not file.is_file():
            raise _UserError(f"{file}: no such file")
        with file.open("rb") as handle:
            head = handle.read(len(HUFF_MAGIC))
        header: dict[str, Any]
        if head == HUFF_MAGIC:
            huff = read_huff(file)
            header = {"format": "lix-open-cache .huff", **dataclasses.asdict(huff.header)}
            turns = list(huff.turns)
        else:
            contents = read_archive(file, strict=True)
            if contents is None:
                raise _UserError(f"{file}: not a lix (.lxa) or lix-open-cache (.huff) archive")
            meta = contents.meta
            header = {
                "format": f"lix archive v{meta.version}",
                "session": meta.name,
                "codec": meta.codec.name,
                "created_at": meta.created_at,
                "updated_at": meta.updated_at,
                "turns": meta.count,
                "size": meta.size,
            }
            turns = [message for _, message in contents.items]
    if json_out:
        _print_json({"header": header, "turns": turns})
        return
    from .tiers.sessions import message_text

    _table(
        str(file), ["field", "value"], [[k, _when(v) if k.endswith("_at") else v] for k, v in header.items()]
    )
    rows = [
        [
            i,
            _role(t) if isinstance(t, dict) else "-",
            _short(message_text(t) if isinstance(t, dict) else t, 90),
        ]
        for i, t in enumerate(turns)
    ]
    _table(f"{len(turns)} turns", ["#", "role", "text"], rows)


# -- cleanup ----------------------------------------------------------------------------------------------------


@app.command()
def cleanup(url: UrlOpt = None, namespace: NamespaceOpt = None, json_out: JsonOpt = False) -> None:
    """Delete expired entries (semantic, embeddings), archive idle sessions and delete sessions past retention."""
    with _errors(), _open(url, namespace) as engine:
        steps: list[tuple[str, Callable[[], int]]] = [
            ("expired semantic entries", engine.semantic.purge_expired),
            ("expired embeddings", engine.embeddings.purge_expired),
            ("idle sessions archived", engine.sessions.migrate_idle),
            ("sessions past retention", engine.sessions.cleanup_expired),
        ]
        done: dict[str, int] = {}
        with _progress() as progress:
            task = progress.add_task("cleaning up", total=len(steps))
            for name, step in steps:
                done[name] = step()
                progress.advance(task)
    if json_out:
        _print_json(done)
    else:
        _table("cleanup", ["what", "removed"], [[k, v] for k, v in done.items()])


# -- calibrate --------------------------------------------------------------------------------------------------


@app.command()
def calibrate(
    pairs: Annotated[Path, typer.Argument(help='JSON Lines of {"q1", "q2", "label": 0|1}.')],
    target_precision: Annotated[float, typer.Option(help="Precision the threshold must reach.")] = 0.95,
    plot: Annotated[
        Path | None, typer.Option(help="Save the precision / hit-rate plot here (matplotlib).")
    ] = None,
    embedder: EmbedderOpt = "default",
    json_out: JsonOpt = False,
) -> None:
    """The lowest similarity threshold meeting a target precision on labelled pairs, for the embedder."""
    from .calibration import PairSet
    from .calibration import calibrate as run_calibration

    with _errors():
        if not pairs.is_file():
            raise _UserError(f"{pairs}: no such file")
        pair_set = PairSet.from_jsonl(pairs)
        model = _embedder(embedder)
        with _progress() as progress:
            task = progress.add_task("embedding", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_calibration(pair_set, target_precision, embedder=model, progress=report)
        if plot is not None:
            result.plot(plot)
    if json_out:
        _print_json(result.to_dict())
        return
    p = result.point
    _out.print(
        f"threshold {result.threshold:.3f}: precision {p.precision:.3f}, recall {p.recall:.3f}, "
        f"hit rate {p.hit_rate:.3f} ({result.pairs} pairs, {result.embedder})"
    )
    marks = [q for q in result.curve.points if round(q.threshold * 1000) % 50 == 0]
    _table(
        "curve",
        ["threshold", "precision", "recall", "hit rate"],
        [[f"{q.threshold:.2f}", f"{q.precision:.3f}", f"{q.recall:.3f}", f"{q.hit_rate:.3f}"] for q in marks],
    )
    if plot is not None:
        _out.print(f"plot saved to {plot}")


# -- bench ------------------------------------------------------------------------------------------------------


@app.command()
def bench(
    latency: Annotated[float, typer.Option(help="Simulated LLM latency in seconds.")] = 0.2,
    embedder: EmbedderOpt = "default",
    json_out: JsonOpt = False,
) -> None:
    """A quick local run of the semantic cache demo on the embedded default store."""
    from . import demo

    with _errors():
        if latency < 0:
            raise _UserError(f"--latency must not be negative, got {latency}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        rows = demo.main(
            embedder=_embedder(embedder), latency=latency, output=None if json_out else _out.print
        )
    if json_out:
        _print_json([dataclasses.asdict(r) for r in rows])


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
