"""SIGTERM lets the gateway's in-flight streams finish, then it exits 0 (fakes and real services); a crash says why."""

import asyncio
import json
import signal
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from tests.http_gateway.fake_backends import FakeBackend
from tests.http_gateway.gateway_process import GatewayProcess, start_gateway
from tests.reliability.conftest import LONG_PROMPT
from tests.service_processes import ServiceProcess


async def _stream_through_sigterm(gateway: GatewayProcess, body: dict) -> list[tuple[str, dict]]:
    """Streams ``body`` from /generate-text, sending the gateway SIGTERM at the first event; every event."""
    assert gateway.process.process is not None
    await asyncio.to_thread(gateway.wait_until_answering, "/health/ready")
    events: list[tuple[str, dict]] = []
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=120) as client,
        aconnect_sse(client, "POST", "/generate-text", json=body) as source,
    ):
        async for event in source.aiter_sse():
            if not events:
                gateway.process.process.send_signal(signal.SIGTERM)
            events.append((event.event, json.loads(event.data)))
    assert await asyncio.to_thread(gateway.process.process.wait, 30) == 0
    return events


async def test_sigterm_drains_open_streams_then_exits_cleanly(
    fake_text: FakeBackend, fake_image: FakeBackend, tmp_path: Path
) -> None:
    gateway = start_gateway(fake_text.target, fake_image.target, tmp_path / "gateway.log")
    try:
        body = {"prompt": "slow", "max_new_tokens": 20, "include_prompt": False, "stream": True}
        events = await _stream_through_sigterm(gateway, body)
        assert [name for name, _ in events] == ["token"] * 20 + ["done"]
    finally:
        gateway.stop()


async def test_sigterm_drains_a_real_text_stream(
    text_service: ServiceProcess, image_service: ServiceProcess, tmp_path: Path
) -> None:
    gateway = start_gateway(text_service.target, image_service.target, tmp_path / "gateway.log")
    try:
        body = {"prompt": LONG_PROMPT, "max_new_tokens": 24, "do_sample": False, "include_prompt": False}
        events = await _stream_through_sigterm(gateway, {**body, "stream": True})
    finally:
        gateway.stop()
    names = [name for name, _ in events]
    assert names == ["token"] * (len(events) - 1) + ["done"]
    assert sum(len(data["token_ids"]) for name, data in events if name == "token") == 24
    done = events[-1][1]
    assert (done["finish_reason"], done["usage"]["completion_tokens"]) == ("length", 24)
    assert done["generated_text"].strip()


def test_a_native_crash_leaves_its_cause_in_the_log(
    fake_text: FakeBackend, fake_image: FakeBackend, tmp_path: Path
) -> None:
    gateway = start_gateway(fake_text.target, fake_image.target, tmp_path / "gateway.log")
    try:
        gateway.wait_until_answering("/health")
        assert gateway.process.process is not None
        gateway.process.process.send_signal(signal.SIGSEGV)
        assert gateway.process.process.wait(30) == -signal.SIGSEGV
    finally:
        gateway.stop()
    log = gateway.process.log_path.read_text(errors="replace")
    assert "Fatal Python error: Segmentation fault" in log
    assert 'http_gateway/__main__.py", line' in log
