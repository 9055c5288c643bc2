"""``lix checkpoints``: list, show and prune LangGraph checkpointer threads (``LixCheckpointSaver``).

``list`` and ``prune`` work on the store alone; ``show`` decodes checkpoints with LangGraph's serializer in strict
mode, so it needs the ``[langgraph]`` extra.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..install import install_hint
from ._common import (
    JsonOpt,
    NamespaceOpt,
    UrlOpt,
    _out,
    _print_json,
    _short,
    _store,
    _table,
    _UserError,
    _when,
    command_group,
)

checkpoints_app = command_group("List, show and prune LangGraph checkpointer threads.")


@checkpoints_app.command("list")
def checkpoints_list(
    limit: Annotated[int, typer.Option(help="At most this many threads.")] = 1000,
    after: Annotated[str | None, typer.Option(help="Continue after this thread id.")] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Threads, sorted by id, with their checkpoint count, last write and expiry."""
    with _store(url, namespace, limit=limit) as engine:
        threads = engine.checkpoints.threads(after=after, limit=limit)
        counts = [engine.checkpoints.count(t.thread_id) for t in threads]
    if json_out:
        _print_json(
            [
                {
                    "thread_id": t.thread_id,
                    "checkpoints": n,
                    "updated_at": t.updated_at,
                    "expires_at": t.expires_at,
                }
                for t, n in zip(threads, counts)
            ]
        )
    else:
        _table(
            f"threads ({len(threads)})",
            ["thread", "checkpoints", "last write (UTC)", "expires (UTC)"],
            [[t.thread_id, n, _when(t.updated_at), _when(t.expires_at)] for t, n in zip(threads, counts)],
        )


def _summary(tup: Any) -> dict[str, Any]:
    values = tup.checkpoint.get("channel_values", {})
    sizes = {ch: len(v) if isinstance(v, list) else 1 for ch, v in values.items()}
    messages = values.get("messages")
    last = _short(getattr(messages[-1], "content", ""), 60) if isinstance(messages, list) and messages else ""
    return {
        "checkpoint_id": tup.config["configurable"]["checkpoint_id"],
        "checkpoint_ns": tup.config["configurable"]["checkpoint_ns"],
        "parent_id": (tup.parent_config or {}).get("configurable", {}).get("checkpoint_id"),
        "step": tup.metadata.get("step"),
        "source": tup.metadata.get("source"),
        "channels": sizes,
        "pending_writes": len(tup.pending_writes or []),
        "last_message": last,
    }


@checkpoints_app.command("show")
def checkpoints_show(
    thread_id: str,
    checkpoint_ns: Annotated[
        str | None, typer.Option("--checkpoint-ns", help="Only this checkpoint namespace (default: all).")
    ] = None,
    limit: Annotated[int, typer.Option(help="The newest N checkpoints.")] = 20,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A thread's checkpoints, newest first: step, source, values per channel, pending writes."""
    with _store(url, namespace, limit=limit) as engine:
        try:
            from ..langgraph import LixCheckpointSaver
        except ImportError:  # pragma: no cover - the extra is part of the test install
            raise _UserError(f"showing checkpoints needs LangGraph: {install_hint('langgraph')}") from None
        saver = LixCheckpointSaver(engine)
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if checkpoint_ns is not None:
            configurable["checkpoint_ns"] = checkpoint_ns
        rows = [_summary(t) for t in saver.list({"configurable": configurable}, limit=limit)]
    if json_out:
        _print_json(rows)
        return
    if not rows:
        raise _UserError(f"no checkpoints in thread {thread_id!r}")
    _table(
        f"thread {thread_id} ({len(rows)} newest checkpoints)",
        ["checkpoint", "ns", "step", "source", "values", "writes", "last message"],
        [
            [
                r["checkpoint_id"],
                r["checkpoint_ns"],
                r["step"],
                r["source"],
                ", ".join(f"{ch}:{n}" for ch, n in sorted(r["channels"].items())),
                r["pending_writes"],
                r["last_message"],
            ]
            for r in rows
        ],
    )


@checkpoints_app.command("prune")
def checkpoints_prune(
    thread_ids: Annotated[list[str] | None, typer.Argument(help="Threads to prune.")] = None,
    keep: Annotated[int, typer.Option(help="Checkpoints kept per thread namespace (the newest).")] = 1,
    delete: Annotated[bool, typer.Option("--delete", help="Delete every checkpoint of the threads.")] = False,
    all_threads: Annotated[bool, typer.Option("--all", help="Prune every thread of the store.")] = False,
    expired: Annotated[bool, typer.Option("--expired", help="Delete the threads whose ttl ran out.")] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Keep the newest --keep checkpoints of threads (named, or --all), and/or delete expired threads."""
    with _store(url, namespace) as engine:
        names = list(thread_ids or [])
        if not names and not all_threads and not expired:
            raise _UserError("name threads to prune, or pass --all or --expired")
        if names and all_threads:
            raise _UserError("pass thread ids or --all, not both")
        if keep < 1:
            raise _UserError(f"--keep must be positive (use --delete to delete every checkpoint), got {keep}")
        result: dict[str, Any] = {"threads": 0, "checkpoints_deleted": 0, "expired_threads_deleted": 0}
        if expired:
            result["expired_threads_deleted"] = engine.checkpoints.sweep_expired()
        if all_threads:
            after = None
            while True:
                page = engine.checkpoints.threads(after=after)
                names += [t.thread_id for t in page]
                if len(page) < 1000:
                    break
                after = page[-1].thread_id
        for thread_id in names:
            result["checkpoints_deleted"] += engine.checkpoints.prune(thread_id, None if delete else keep)
            result["threads"] += 1
    if json_out:
        _print_json(result)
    else:
        _out.print(
            f"pruned {result['threads']} threads: {result['checkpoints_deleted']} checkpoints deleted"
            + (f", {result['expired_threads_deleted']} expired threads deleted" if expired else "")
        )
