"""Reading a gateway's Server-Sent Events in tests, with httpx-sse (as the CLI and bench clients do)."""

import json
from typing import Any

import httpx
from httpx_sse import aconnect_sse


async def read_events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every (event name, parsed data) of a stream; ``[DONE]`` kept as a string."""
    events = []
    async with aconnect_sse(client, "POST", path, json=body) as source:
        assert source.response.status_code == 200, await source.response.aread()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        async for event in source.aiter_sse():
            events.append((event.event, event.data if event.data == "[DONE]" else json.loads(event.data)))
    return events
