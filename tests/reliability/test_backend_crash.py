"""Backend crash: a model service is killed (SIGKILL) in the middle of a stream through the gateway.

For either service: the stream in flight ends with an `error` event instead of hanging, calls to it get 503
with a clear message, the other service keeps working through the same gateway, and once the killed
service is back on its port the gateway serves it again without a restart.
"""

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.reliability.conftest import LONG_PROMPT, StartGateway, StartImage, StartText, eventually
from tests.service_processes import ServiceProcess

IMAGE = {"prompt": "a lighthouse", "num_inference_steps": 4, "width": 64, "height": 64, "seed": 5}
TEXT = {"prompt": "The capital of France is", "max_new_tokens": 4, "do_sample": False}


@dataclass(frozen=True)
class Backend:
    """How the gateway names one backend, a request that works and one that streams for a long while."""

    name: str
    path: str
    health_key: str
    request: dict
    # Long enough that the kill lands mid-request: events arrive for seconds before the end.
    slow_stream: dict
    first_event: str

    async def works(self, http: httpx.AsyncClient) -> bool:
        response = await http.post(self.path, json=self.request)
        return response.status_code == 200


IMAGE_BACKEND = Backend(
    "image",
    "/generate-image",
    "image_model_loaded",
    IMAGE,
    {**IMAGE, "num_inference_steps": 150, "width": 256, "height": 256, "stream": True},
    "progress",
)
TEXT_BACKEND = Backend(
    "text",
    "/generate-text",
    "text_model_loaded",
    TEXT,
    {"prompt": LONG_PROMPT, "max_new_tokens": 2000, "do_sample": False, "stream": True},
    "token",
)


async def _events_until_killed(
    http: httpx.AsyncClient, backend: Backend, service: ServiceProcess
) -> list[tuple[str, str]]:
    """Streams from ``backend`` and kills ``service`` at the first event of its kind; every (name, data)."""
    events = []
    async with aconnect_sse(http, "POST", backend.path, json=backend.slow_stream) as source:
        assert source.response.status_code == 200
        async for event in source.aiter_sse():
            events.append((event.event, event.data))
            if event.event == backend.first_event and service.process is not None and service.process.poll() is None:
                service.kill()
    return events


async def _kill_mid_stream_then_recover(
    http: httpx.AsyncClient, killed: Backend, service: ServiceProcess, restart: StartText, other: Backend
) -> None:
    events = await asyncio.wait_for(_events_until_killed(http, killed, service), timeout=120)
    names = [name for name, _ in events]
    assert names[0] == killed.first_event
    assert names[-1] == "error", names
    assert "done" not in names
    assert "image" not in names
    assert '"type":"service_unavailable"' in events[-1][1]

    async def reported_down() -> bool:
        return (await http.get("/health")).json()[killed.health_key] is False

    assert await eventually(reported_down)
    refused = await http.post(killed.path, json=killed.request)
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "service_unavailable"
    assert f"the {killed.name} backend" in refused.json()["error"]["message"]
    assert (await http.get("/health/ready")).status_code == 503
    assert await other.works(http)

    restart(port=service.port)

    async def ready() -> bool:
        return (await http.get("/health/ready")).status_code == 200

    assert await eventually(lambda: killed.works(http))
    assert await eventually(ready)
    assert (await http.get("/health")).json()[killed.health_key] is True


@pytest.mark.parametrize("killed", [IMAGE_BACKEND, TEXT_BACKEND], ids=lambda backend: backend.name)
async def test_killing_a_backend_mid_stream_leaves_the_other_serving_and_the_gateway_recovers(
    killed: Backend,
    request: pytest.FixtureRequest,
    start_text_service: StartText,
    start_image_service: StartImage,
    start_gateway: StartGateway,
) -> None:
    other = TEXT_BACKEND if killed is IMAGE_BACKEND else IMAGE_BACKEND
    start = start_image_service if killed is IMAGE_BACKEND else start_text_service
    service = start()
    targets = {killed.name: service.target, other.name: request.getfixturevalue(f"{other.name}_service").target}
    gateway = start_gateway(targets["text"], targets["image"])
    await asyncio.to_thread(gateway.wait_until_answering, "/health/ready")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        await _kill_mid_stream_then_recover(http, killed, service, start, other)
