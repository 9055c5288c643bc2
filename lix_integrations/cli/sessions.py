"""``lix sessions``: list, show, export, import and delete chat sessions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

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
    _role,
    _short,
    _store,
    _table,
    _UserError,
    command_group,
)

sessions_app = command_group("List, show, export, import and delete chat sessions.")


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
    with _store(url, namespace) as engine:
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
    from ..tiers.sessions import message_text

    with _store(url, namespace) as engine:
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
    with _store(url, namespace) as engine:
        messages = engine.sessions.get_full_history(session_id)
        text = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")
            _err.print(f"exported {len(messages)} messages to {output}")


def _read_messages(path: Path) -> list[Any]:
    """Messages from JSON Lines, our ``.lxa`` archive or a lix-open-cache ``.huff`` file."""
    from ..archive import read_archive, read_huff

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
    with _store(url, namespace) as engine:
        existed = engine.sessions.delete_session(session_id)
    if json_out:
        _print_json({"session_id": session_id, "deleted": existed})
    elif existed:
        _out.print(f"deleted session {session_id}")
    else:
        _fail(f"no session {session_id!r}")
