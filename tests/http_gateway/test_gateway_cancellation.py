"""A client that goes away cancels its backend call at once, streaming or not."""

import asyncio

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.http_gateway.fake_backends import CallLog, FakeBackend
from tests.http_gateway.in_process_gateway import InProcessGateway


async def wait_for_cancellation(log: CallLog, before: int) -> None:
    """Waits until the fake saw one more cancelled call and none is left running."""
    for _ in range(200):
        if log.cancelled > before and log.active == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the backend call was not cancelled: {log}")


@pytest.mark.parametrize(
    ("path", "body", "backend"),
    [
        ("/generate-text", {"prompt": "slow", "max_new_tokens": 50, "stream": True}, "text"),
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "slow"}], "stream": True, "n": 2}, "text"),
        ("/generate-image", {"prompt": "slow", "stream": True}, "image"),
    ],
)
async def test_leaving_a_stream_cancels_the_backend_call(
    fake_gateway: InProcessGateway, fake_text: FakeBackend, fake_image: FakeBackend, path: str, body: dict, backend: str
) -> None:
    log = (fake_text if backend == "text" else fake_image).log
    before = log.cancelled
    async with httpx.AsyncClient(base_url=fake_gateway.url) as client:
        async with aconnect_sse(client, "POST", path, json=body) as source:
            async for _ in source.aiter_sse():
                break
        assert log.active > 0
    await wait_for_cancellation(log, before)


async def test_leaving_a_unary_request_cancels_the_backend_call(
    fake_gateway: InProcessGateway, fake_text: FakeBackend
) -> None:
    before = fake_text.log.cancelled
    async with httpx.AsyncClient(base_url=fake_gateway.url, timeout=0.3) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/generate-text", json={"prompt": "slow", "max_new_tokens": 50})
    await wait_for_cancellation(fake_text.log, before)
