"""With the image service down the gateway keeps serving text, says why images fail, and recovers alone."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.http_gateway.gateway_process import GatewayProcess, start_gateway
from tests.service_processes import ServiceProcess, free_port, service_env

SMALL_IMAGE = {"prompt": "a lantern", "num_inference_steps": 2, "height": 64, "width": 64}


def eventually(check: Callable[[], bool], timeout: float = 120.0) -> None:
    """Polls ``check`` until it holds; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{check.__name__} did not hold within {timeout}s")
        time.sleep(0.2)


@pytest.fixture
def own_image_service(image_model_path: Path, tmp_path: Path) -> Iterator[ServiceProcess]:
    """An image service of this test's own, so that stopping it leaves the shared one alone."""
    port = free_port()
    env = service_env(HEARTH_IMAGE_MODEL=str(image_model_path), HEARTH_IMAGE_PORT=str(port))
    service = ServiceProcess("image_service", port, env, tmp_path / "image_service.log").start()
    try:
        yield service.wait_until_serving()
    finally:
        service.stop()


@pytest.fixture
def outage_gateway(
    text_service: ServiceProcess, own_image_service: ServiceProcess, tmp_path: Path
) -> Iterator[GatewayProcess]:
    gateway = start_gateway(
        text_service.target,
        own_image_service.target,
        tmp_path / "gateway.log",
        HEARTH_GATEWAY_HEALTH_INTERVAL_SECONDS="0.2",
    )
    try:
        yield gateway.wait_until_answering("/health/ready")
    finally:
        gateway.stop()


def test_image_outage_and_recovery_without_restarting_the_gateway(
    outage_gateway: GatewayProcess, own_image_service: ServiceProcess
) -> None:
    with httpx.Client(base_url=outage_gateway.url, timeout=120) as http:
        assert http.post("/generate-image", json=SMALL_IMAGE).status_code == 200
        own_image_service.stop()

        def image_reported_down() -> bool:
            health = http.get("/health")
            assert health.status_code == 200
            return health.json()["image_model_loaded"] is False

        eventually(image_reported_down)
        health = http.get("/health").json()
        assert health["text_model_loaded"] is True
        assert health["image"]["status"] == "unreachable"
        assert http.get("/health/ready").status_code == 503

        text = http.post("/generate-text", json={"prompt": "Hello", "max_new_tokens": 2})
        assert text.status_code == 200
        for path, body in (("/generate-image", SMALL_IMAGE), ("/v1/images/generations", {"prompt": "x"})):
            refused = http.post(path, json=body)
            assert refused.status_code == 503
            error = refused.json()["error"]
            assert error["type"] == "service_unavailable"
            assert f"image backend at {own_image_service.target} is unavailable" in error["message"]

        own_image_service.start().wait_until_serving()

        def image_route_works() -> bool:
            try:
                return http.post("/generate-image", json=SMALL_IMAGE).status_code == 200
            except httpx.TransportError as error:
                raise AssertionError(
                    f"the gateway stopped answering: {outage_gateway.process.describe()}\n"
                    f"{own_image_service.describe()}"
                ) from error

        eventually(image_route_works)
        eventually(lambda: http.get("/health").json()["image_model_loaded"] is True)
        assert http.get("/health/ready").status_code == 200
