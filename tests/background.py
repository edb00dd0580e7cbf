"""Run an asyncio server (the edge) on its own loop in a thread, for tests that talk to it synchronously."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving_in_thread(serve: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *,
                      ready_timeout_s: float = 15) -> Iterator[asyncio.AbstractEventLoop]:
    """``serve(ready)`` runs until cancelled and sets ``ready`` once it listens; yields its loop."""
    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    task = loop.create_task(serve(ready))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready.wait(), ready_timeout_s - 5), loop).result(
            ready_timeout_s)
        yield loop
    finally:
        async def shutdown() -> None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def uvicorn_serving(app: Any, port: int, **config: Any) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """A ``serve(ready)`` for :func:`serving_in_thread` running ``app`` under uvicorn on 127.0.0.1:``port``
    (``config``: more ``uvicorn.Config`` options)."""
    import contextlib

    import uvicorn

    async def serve(ready: asyncio.Event) -> None:
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        ready.set()
        try:
            await asyncio.shield(task)
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task

    return serve
