"""Fixtures of the gateway's own tests: fake backends in process, gateways in front of them, and clients of
the real gateway (the session's, in front of the real services)."""

from collections.abc import AsyncIterator, Iterator

import httpx
import openai
import pytest

from tests.http_gateway.fake_backends import FakeBackend, FakeImageService, FakeTextService
from tests.http_gateway.gateway_process import GatewayProcess
from tests.http_gateway.in_process_gateway import InProcessGateway, fake_settings


@pytest.fixture(scope="session")
async def fake_text() -> AsyncIterator[FakeBackend]:
    backend = await FakeBackend(FakeTextService()).start()
    yield backend
    await backend.stop()


@pytest.fixture(scope="session")
async def fake_image() -> AsyncIterator[FakeBackend]:
    backend = await FakeBackend(FakeImageService()).start()
    yield backend
    await backend.stop()


@pytest.fixture(scope="session")
async def fake_gateway(fake_text: FakeBackend, fake_image: FakeBackend) -> AsyncIterator[InProcessGateway]:
    """A gateway (no auth, no CORS) in front of the session's fakes."""
    gateway = await InProcessGateway(fake_settings(fake_text.target, fake_image.target)).start()
    yield gateway
    await gateway.stop()


@pytest.fixture
async def client(fake_gateway: InProcessGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_gateway.url, timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=300) as client:
        yield client


@pytest.fixture(scope="module")
def sdk(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0, timeout=300) as client:
        yield client
