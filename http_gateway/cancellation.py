"""Stopping a non-streaming request's backend work the moment its HTTP client disconnects.

Starlette does not cancel a handler when its client goes away, so a unary generation would run to its
end for nobody. ``cancel_on_disconnect`` races the work against the ASGI disconnect message, as vLLM's
``with_cancellation`` does; cancelling the task cancels its gRPC call, which frees the batch slot.
"""

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request

from http_gateway.errors import ClientDisconnected

Result = TypeVar("Result")


async def _until_disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Awaitable[Result]) -> Result:
    """Awaits ``work``; if the client disconnects first, cancels it and raises ClientDisconnected."""
    work_task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnected(request))
    try:
        await asyncio.wait({work_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work_task, watcher):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    if work_task.cancelled():
        raise ClientDisconnected
    return work_task.result()
