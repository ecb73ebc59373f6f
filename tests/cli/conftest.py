"""Fixtures of the CLI tests beyond the session stack: a gateway with its image backend down."""

from collections.abc import Iterator

import pytest

from tests.http_gateway.gateway_process import GatewayProcess, start_gateway
from tests.service_processes import ServiceProcess, free_port


@pytest.fixture(scope="module")
def gateway_without_image(
    text_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway whose image backend is down (nothing listens on its port): the "service down" path."""
    log = tmp_path_factory.mktemp("logs") / "gateway-no-image.log"
    gateway = start_gateway(text_service.target, f"127.0.0.1:{free_port()}", log)
    try:
        yield gateway.wait_until_answering("/health")
    finally:
        gateway.stop()
