"""Commands on a whole store: ``stats``, ``inspect``, ``cleanup``, ``clear``."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..archive.store import SUFFIX
from ..tiers.semantic_labels import answer_text
from ._common import (
    JsonOpt,
    NamespaceOpt,
    UrlOpt,
    _err,
    _errors,
    _fail,
    _open,
    _out,
    _print_json,
    _progress,
    _short,
    _store,
    _table,
    _UserError,
    _when,
)

# -- stats ------------------------------------------------------------------------------------------------------


def stats(url: UrlOpt = None, namespace: NamespaceOpt = None, json_out: JsonOpt = False) -> None:
    """What the store holds: semantic entries, sessions and their archives, cached embeddings."""
    with _store(url, namespace) as engine:
        archive_dir = engine.sessions.archive_dir
        # the sessions' archives only, not the directory's owner record (archive/owner.py)
        files = list(archive_dir.glob("*" + SUFFIX)) if archive_dir.is_dir() else []
        vectors, vector_bytes = engine.embeddings.usage()
        data = {
            "url": engine.url,
            "namespace": engine.namespace,
            "semantic_entries": engine.semantic.count(),
            "sessions": len(engine.sessions.list_sessions()),
            "archive_dir": _shown(archive_dir),
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
        with _open(url, namespace, must_exist=True) as engine:
            now = engine.now()
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
                        "answer": answer_text(e.payload),
                        "expired": e.expires_at is not None and e.expires_at <= now,
                    }
                    for e in entries
                ]
    more = tier == "semantic" and len(rows) == limit
    if json_out:
        _print_json(rows)
    elif tier == "sessions":
        _table("sessions", ["session", "messages"], [[r["session_id"], r["messages"]] for r in rows])
    else:
        _table(
            f"semantic entries ({len(rows)})",
            ["id", "scope", "model", "context", "prompt", "answer", "tokens", "created", "expires"],
            [
                [
                    r["id"],
                    r["scope"],
                    _short(r["model"], 30) or f"key {r['llm_key'][:10]}",
                    _short(r["context"], 40) or "-",
                    _short(r["prompt"], 50),
                    _short(r["answer"], 50),
                    "-" if r["usage"] is None else r["usage"]["input_tokens"] + r["usage"]["output_tokens"],
                    _when(r["created_at"]),
                    "expired" if r["expired"] else _when(r["expires_at"]),
                ]
                for r in rows
            ],
        )
        if more:
            _out.print(f"more: --after-id {rows[-1]['id']}", markup=False)


# -- cleanup ----------------------------------------------------------------------------------------------------


def cleanup(url: UrlOpt = None, namespace: NamespaceOpt = None, json_out: JsonOpt = False) -> None:
    """Delete expired entries (semantic, embeddings), archive idle sessions and delete sessions past retention."""
    with _store(url, namespace) as engine:
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


# -- clear ------------------------------------------------------------------------------------------------------

CLEARABLE = ("semantic", "embeddings", "tools", "sessions")


def _clear_sessions(engine: Any) -> int:
    removed = 0
    for session_id in engine.sessions.list_sessions():
        removed += bool(engine.sessions.delete_session(session_id))
    return removed


def clear(
    tier: Annotated[
        str,
        typer.Option(help="What to delete: 'all', or one of 'semantic', 'embeddings', 'tools', 'sessions'."),
    ] = "all",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete everything one namespace holds (or one tier of it); other namespaces are untouched.

    The namespace keeps the model settings it was created with (embedder, dimension): a store written by
    another embedder stays refused, by name, rather than mixing vectors of two models. Use another namespace.
    """
    with _errors():
        if tier != "all" and tier not in CLEARABLE:
            raise _UserError(f"--tier must be 'all' or one of {', '.join(CLEARABLE)}, got {tier!r}")
        tiers = CLEARABLE if tier == "all" else (tier,)
        with _open(url, namespace, must_exist=True) as engine:
            if not yes:
                question = (
                    f"Delete {' and '.join(tiers) if tier != 'all' else 'every entry and session'} of namespace "
                    f"{engine.namespace!r} in {engine.url}?"
                )
                _err.print(question + " [y/N] ", end="", markup=False, soft_wrap=True)
                answer = sys.stdin.readline().strip().lower()
                if answer not in ("y", "yes"):
                    _fail("not confirmed, nothing deleted (--yes skips the question)")
            steps: dict[str, Callable[[], int]] = {
                "semantic": engine.semantic.clear,
                "embeddings": engine.embeddings.clear,
                "tools": engine.tools.clear,
                "sessions": lambda: _clear_sessions(engine),
            }
            done = {name: steps[name]() for name in tiers}
            where = {"url": engine.url, "namespace": engine.namespace}
    if json_out:
        _print_json({**where, "deleted": done})
    else:
        _table(
            f"cleared namespace {where['namespace']!r} of {where['url']}",
            ["what", "deleted"],
            [[k, v] for k, v in done.items()],
        )


def _shown(path: Path) -> str:
    """``path`` as the user named it: relative to the working directory when it lies below it (the engine holds
    its directories absolute, so that a process moving elsewhere keeps them), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
