"""SIGTERM lets the gateway's in-flight streams finish, then it exits 0."""

import asyncio
import signal
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from tests.http_gateway.fake_backends import FakeBackend
from tests.http_gateway.gateway_process import start_gateway


async def test_sigterm_drains_open_streams_then_exits_cleanly(
    fake_text: FakeBackend, fake_image: FakeBackend, tmp_path: Path
) -> None:
    gateway = start_gateway(fake_text.target, fake_image.target, tmp_path / "gateway.log")
    try:
        await asyncio.to_thread(gateway.wait_until_answering, "/health/ready")
        events = []
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            body = {"prompt": "slow", "max_new_tokens": 20, "include_prompt": False, "stream": True}
            async with aconnect_sse(client, "POST", "/generate-text", json=body) as source:
                async for event in source.aiter_sse():
                    if not events:
                        gateway.process.process.send_signal(signal.SIGTERM)
                    events.append(event.event)
        assert events == ["token"] * 20 + ["done"]
        exit_code = await asyncio.to_thread(gateway.process.process.wait, 30)
        assert exit_code == 0
    finally:
        gateway.stop()
