"""Backend crash: the image service is killed (SIGKILL) in the middle of a request.

The request in flight ends with an error event instead of hanging, image calls get 503 with a clear
message, text keeps working through the same gateway, and once the image service is back on its port
the gateway serves images again without a restart.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from httpx_sse import aconnect_sse

from tests.reliability.conftest import StartGateway, StartImage
from tests.service_processes import ServiceProcess

IMAGE = {"prompt": "a lighthouse", "num_inference_steps": 4, "width": 64, "height": 64, "seed": 5}
# Long enough that the kill lands mid-request: progress events arrive for seconds before the image.
SLOW_IMAGE = {**IMAGE, "num_inference_steps": 150, "width": 256, "height": 256, "stream": True}
TEXT = {"prompt": "The capital of France is", "max_new_tokens": 4, "do_sample": False}


async def _eventually(check: Callable[[], Awaitable[bool]]) -> bool:
    """Whether `check` comes true within a minute (the gateway probes its backends every second)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.25)
    return False


async def _events_until_killed(http: httpx.AsyncClient, image: ServiceProcess) -> list[str]:
    """Streams an image and kills the service at its first progress event; returns every event name."""
    names = []
    async with aconnect_sse(http, "POST", "/generate-image", json=SLOW_IMAGE) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            names.append(event.event)
            if event.event == "progress" and image.process is not None and image.process.poll() is None:
                image.kill()
    return names


async def test_killing_the_image_service_leaves_text_serving_and_the_gateway_recovers(
    text_service: ServiceProcess, start_image_service: StartImage, start_gateway: StartGateway
) -> None:
    image = start_image_service()
    gateway = start_gateway(text_service.target, image.target)
    gateway.wait_until_ready("/health/ready", lambda response: response.status_code == 200)

    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        events = await asyncio.wait_for(_events_until_killed(http, image), timeout=60)
        assert events[-1] == "error", events
        assert "image" not in events

        async def image_reported_down() -> bool:
            return (await http.get("/health")).json()["image_model_loaded"] is False

        assert await _eventually(image_reported_down)
        refused = await http.post("/generate-image", json=IMAGE)
        assert refused.status_code == 503
        assert "image" in refused.text.lower()
        assert (await http.get("/health/ready")).status_code == 503

        text = await http.post("/generate-text", json=TEXT)
        assert text.status_code == 200
        assert text.json()["generated_text"].startswith(TEXT["prompt"])

        start_image_service(port=image.port)

        async def image_served() -> bool:
            return (await http.post("/generate-image", json=IMAGE)).status_code == 200

        async def ready() -> bool:
            return (await http.get("/health/ready")).status_code == 200

        assert await _eventually(image_served)
        assert await _eventually(ready)
