"""Fixtures of the reliability suite: service processes of a test's own, stopped when the test ends.

Tests that kill, drain or overload a service start their own (small settings, free ports) so the session
services other tests share stay untouched; the rest use the session fixtures.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench import child_processes
from bench.child_processes import HttpProcess
from tests.service_processes import ServiceProcess

# A raw prompt the embedded model continues for more than 32 greedy tokens before any end-of-sequence.
LONG_PROMPT = "The history of the printing press begins"

StartText = Callable[..., ServiceProcess]
StartImage = Callable[..., ServiceProcess]
StartGateway = Callable[..., HttpProcess]


@pytest.fixture
def own_processes() -> Iterator[list[ServiceProcess]]:
    """Every process a test starts itself; whatever is still running at the end is stopped."""
    processes: list[ServiceProcess] = []
    yield processes
    for process in processes:
        process.stop(timeout=10)


@pytest.fixture
def start_text_service(own_processes: list[ServiceProcess], text_model_path: Path, tmp_path: Path) -> StartText:
    """Starts a text service of the test's own with HEARTH_TEXT_* settings, and waits until it serves."""

    def start(**settings: str) -> ServiceProcess:
        service = child_processes.text_service(text_model_path, tmp_path, **settings)
        own_processes.append(service)
        return service.wait_until_serving()

    return start


@pytest.fixture
def start_image_service(own_processes: list[ServiceProcess], image_model_path: Path, tmp_path: Path) -> StartImage:
    """Starts an image service of the test's own (optionally on a given port) and waits until it serves."""

    def start(port: int | None = None, **settings: str) -> ServiceProcess:
        service = child_processes.image_service(image_model_path, tmp_path, port, **settings)
        own_processes.append(service)
        return service.wait_until_serving()

    return start


@pytest.fixture
def start_gateway(own_processes: list[ServiceProcess], tmp_path: Path) -> StartGateway:
    """Starts a gateway in front of the given targets and waits until its /health answers."""

    def start(text_target: str, image_target: str, **settings: str) -> HttpProcess:
        gateway = child_processes.gateway(text_target, image_target, tmp_path, **settings)
        own_processes.append(gateway)
        return gateway.wait_until_ready("/health", lambda response: response.status_code == 200)

    return start
