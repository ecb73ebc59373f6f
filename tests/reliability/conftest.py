"""Fixtures of the reliability suite: service processes of a test's own, stopped when the test ends.

Tests that kill, drain or overload a service start their own (small settings, free ports) so the session
services other tests share stay untouched; the rest use the session fixtures.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.http_gateway.gateway_process import GatewayProcess
from tests.http_gateway.gateway_process import start_gateway as gateway_process
from tests.service_processes import ServiceProcess, free_port, service_env

# A raw prompt the embedded model continues for 600 greedy tokens and more without an end-of-sequence on the
# OpenVINO engine's int4 kernels (where "The history of the printing press begins" ends after 30 tokens), so a
# stream is still running when a test kills or stops its service.
LONG_PROMPT = "Once upon a time, in a small village by the sea, there lived"
# How long a backend may take to be seen down or back (the gateway probes its backends every second).
RECOVERY_SECONDS = 60

StartText = Callable[..., ServiceProcess]
StartImage = Callable[..., ServiceProcess]
StartGateway = Callable[..., GatewayProcess]


async def eventually(check: Callable[[], Awaitable[bool]], within: float = RECOVERY_SECONDS) -> bool:
    """Whether ``check`` comes true within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.25)
    return False


@pytest.fixture
def own_processes() -> Iterator[list[ServiceProcess]]:
    """Every process a test starts itself; whatever is still running at the end is stopped."""
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop(timeout=10)


def _starter(own_processes: list[ServiceProcess], module: str, prefix: str, model: Path, logs: Path) -> StartText:
    def start(port: int | None = None, **settings: str) -> ServiceProcess:
        """Starts the service (on ``port`` to restart one where a gateway expects it) and waits until it serves."""
        port = port or free_port()
        env = service_env(**{f"{prefix}_MODEL": str(model), f"{prefix}_PORT": str(port)}, **settings)
        service = ServiceProcess(module, port, env, logs / f"{module}.log")
        own_processes.append(service.start())
        return service.wait_until_serving()

    return start


@pytest.fixture
def start_text_service(own_processes: list[ServiceProcess], text_model_path: Path, tmp_path: Path) -> StartText:
    """Starts a text service of the test's own with HEARTH_TEXT_* settings, and waits until it serves."""
    return _starter(own_processes, "text_service", "HEARTH_TEXT", text_model_path, tmp_path)


@pytest.fixture
def start_image_service(own_processes: list[ServiceProcess], image_model_path: Path, tmp_path: Path) -> StartImage:
    """Starts an image service of the test's own with HEARTH_IMAGE_* settings, and waits until it serves."""
    return _starter(own_processes, "image_service", "HEARTH_IMAGE", image_model_path, tmp_path)


@pytest.fixture
def start_gateway(own_processes: list[ServiceProcess], tmp_path: Path) -> StartGateway:
    """Starts a gateway in front of the given targets and waits until its /health answers."""

    def start(text_target: str, image_target: str, **settings: str) -> GatewayProcess:
        gateway = gateway_process(text_target, image_target, tmp_path / "http_gateway.log", **settings)
        own_processes.append(gateway.process)
        return gateway.wait_until_answering("/health")

    return start
