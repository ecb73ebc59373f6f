"""The gateway app served by uvicorn inside the test's event loop, over real TCP, in front of fakes.

Real sockets (not an in-memory transport) so streaming, disconnects and the app's lifespan behave as in
production, while the fake backends stay in the same process where a test can inspect them.
"""

import asyncio

import uvicorn

from http_gateway.app import create_app
from http_gateway.config import GatewaySettings
from tests.service_processes import free_port


class InProcessGateway:
    """``create_app(settings)`` under uvicorn on a free port, started and stopped by a fixture."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "InProcessGateway":
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


def fake_settings(text_target: str, image_target: str, **overrides: object) -> GatewaySettings:
    """Settings for a gateway in front of fakes: fast health probes and a short text deadline."""
    values: dict[str, object] = {
        "text_target": text_target,
        "image_target": image_target,
        "text_deadline_seconds": 3.0,
        "image_deadline_seconds": 3.0,
        "health_interval_seconds": 0.1,
        "health_timeout_seconds": 0.5,
    }
    values.update(overrides)
    return GatewaySettings(**values)
