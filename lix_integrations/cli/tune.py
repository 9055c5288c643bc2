"""Commands that embed: ``calibrate`` (pick the threshold) and ``bench`` (try the cache)."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ..install import install_hint
from ._common import (
    EmbedderOpt,
    JsonOpt,
    UrlOpt,
    _embedder,
    _errors,
    _open,
    _out,
    _print_json,
    _progress,
    _table,
    _UserError,
    namespace_option,
)

# -- calibrate --------------------------------------------------------------------------------------------------


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise _UserError(f"--plot needs matplotlib: {install_hint('plot')}") from None


def _model_namespace(prefix: str, embedder: Any) -> str:
    """``prefix`` for the default embedder, ``prefix-<model>`` for another: a namespace keeps one model's settings."""
    if embedder is None:
        return prefix
    slug = re.sub(r"[^a-z0-9]+", "-", str(getattr(embedder, "name", "custom")).lower()).strip("-")
    return f"{prefix}-{slug[:64] or 'custom'}"


def calibrate(
    pairs: Annotated[Path, typer.Argument(help='JSON Lines of {"q1", "q2", "label": 0|1}.')],
    target_precision: Annotated[float, typer.Option(help="Precision the threshold must reach.")] = 0.95,
    plot: Annotated[
        Path | None, typer.Option(help="Save the precision / hit-rate plot here (matplotlib).")
    ] = None,
    embedder: EmbedderOpt = "default",
    url: UrlOpt = None,
    namespace: Annotated[
        str | None,
        namespace_option(
            "Namespace whose embedding cache keeps the vectors (default: lix-calibrate[-<model>])."
        ),
    ] = None,
    verifier: Annotated[
        str,
        typer.Option(
            help="'auto' (the bundled verifier for the default embedder), 'off' (cosine alone), a name."
        ),
    ] = "auto",
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Store the threshold with the data of --apply-to: engines opening it use it unless given one.",
        ),
    ] = False,
    apply_to: Annotated[
        str | None,
        typer.Option(help="Namespace whose data --apply stores the threshold with (default: LIX_NAMESPACE)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The lowest threshold meeting a target precision on labelled pairs: the similarity threshold for the
    embedder, or, when a verifier runs, the verifier's threshold above its cosine floor.

    The texts are embedded through the store's embedding cache (default store: LIX_URL, else the embedded one),
    so a rerun with the same model reads the vectors back instead of computing them again. With --apply the
    threshold is stored with the cache's data, so every engine that opens it uses it unless it is given a
    threshold explicitly (keyword, config or LIX_THRESHOLD).
    """
    from ..calibration import PairSet
    from ..calibration import calibrate as run_calibration

    with _errors():
        if not pairs.is_file():
            raise _UserError(f"{pairs}: no such file")
        if plot is not None:
            _require_matplotlib()  # before minutes of embedding, not after
        pair_set = PairSet.from_jsonl(pairs)
        model = _embedder(embedder)
        own = namespace or _model_namespace("lix-calibrate", model)
        with _open(url, own, embedder=model) as engine, _progress() as progress:
            task = progress.add_task("embedding", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            result = run_calibration(
                pair_set, target_precision, engine=engine, progress=report, verifier=verifier
            )
        if plot is not None:
            result.plot(plot)
        applied = ""
        if apply:
            with _open(url, apply_to, embedder=model) as target:
                target.semantic.set_threshold(result, store=True)
                applied = f"applied: stored with namespace {target.namespace!r} of {target.url}"
    if json_out:
        _print_json(result.to_dict() | ({"applied_to": applied} if apply else {}))
        return
    p = result.point
    if result.verifier_threshold is not None:
        _out.print(
            f"verifier {result.verifier} threshold {result.verifier_threshold:.3f} above cosine floor "
            f"{result.threshold:.3f}: precision {p.precision:.3f}, recall {p.recall:.3f}, "
            f"hit rate {p.hit_rate:.3f} ({result.pairs} pairs, {result.embedder})"
        )
    else:
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
    if apply:
        _out.print(applied, markup=False)


# -- bench ------------------------------------------------------------------------------------------------------


def bench(
    latency: Annotated[float, typer.Option(help="Simulated LLM latency in seconds.")] = 0.2,
    embedder: EmbedderOpt = "default",
    url: UrlOpt = None,
    namespace: Annotated[
        str | None,
        namespace_option(
            "Namespace to run in, cleared first (default: lix-demo, or lix-demo-<model> for another embedder)."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """A quick run of the semantic cache demo, in a namespace of its own (default store: LIX_URL, else the embedded one).

    The demo's namespace is cleared at start and named after the embedder, so it never touches your own
    namespace, and runs with different embedders do not trip over each other's stored model settings.
    """
    try:
        from .. import demo
    except ImportError:
        raise _UserError(f"lix bench runs the LangChain demo: {install_hint('langchain')}") from None

    with _errors():
        if latency < 0:
            raise _UserError(f"--latency must not be negative, got {latency}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        rows = demo.main(
            embedder=_embedder(embedder),
            latency=latency,
            output=None if json_out else _out.print,
            url=url if url is not None else os.environ.get("LIX_URL") or None,
            namespace=namespace,
        )
    if json_out:
        _print_json([dataclasses.asdict(r) for r in rows])
