"""Cache decisions as LangChain callback events, for handlers the user gives the cache.

LangChain calls ``BaseCache.lookup`` outside any run (no run manager reaches the cache), so the events cannot
ride on the model's own callbacks; instead the cache calls the ``on_custom_event`` of the handlers passed to
it. A handler that raises is logged and ignored: observing the cache must never break an LLM call.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler

__all__ = ["LOOKUP_EVENT", "UPDATE_EVENT", "aemit", "emit"]

logger = logging.getLogger(__name__)

LOOKUP_EVENT = "lix_cache_lookup"
UPDATE_EVENT = "lix_cache_update"


def emit(handlers: Sequence[BaseCallbackHandler], name: str, data: dict[str, Any]) -> None:
    """Deliver an event to the synchronous handlers (async ones only receive events from async calls)."""
    run_id = uuid.uuid4()
    for handler in handlers:
        if isinstance(handler, AsyncCallbackHandler):
            continue
        try:
            handler.on_custom_event(name, data, run_id=run_id)
        except Exception:
            logger.warning("callback handler %r failed on %s", handler, name, exc_info=True)


async def aemit(handlers: Sequence[BaseCallbackHandler], name: str, data: dict[str, Any]) -> None:
    """Deliver an event to every handler, awaiting the async ones."""
    run_id = uuid.uuid4()
    for handler in handlers:
        try:
            if isinstance(handler, AsyncCallbackHandler):
                await handler.on_custom_event(name, data, run_id=run_id)
            else:
                handler.on_custom_event(name, data, run_id=run_id)
        except Exception:
            logger.warning("callback handler %r failed on %s", handler, name, exc_info=True)
