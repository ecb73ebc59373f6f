"""Several replicas of a backend behind one gateway: target lists, round_robin, unhealthy ones skipped."""

from collections.abc import AsyncIterator

import httpx
import pytest

from http_gateway.backends import dial_target
from tests.http_gateway.fake_backends import FakeBackend, FakeTextService
from tests.http_gateway.in_process_gateway import InProcessGateway, fake_settings


@pytest.mark.parametrize(
    ("configured", "dialed"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("dns:///text.internal:50051", "dns:///text.internal:50051"),
        ("ipv4:10.0.0.1:1,10.0.0.2:1", "ipv4:10.0.0.1:1,10.0.0.2:1"),
        ("10.0.0.1:1, 10.0.0.2:2", "ipv4:10.0.0.1:1,10.0.0.2:2"),
        ("localhost:7,127.0.0.2:8", "ipv4:127.0.0.1:7,127.0.0.2:8"),
        ("[::1]:7,[::2]:8", "ipv6:[::1]:7,[::2]:8"),
    ],
)
def test_replica_lists_become_one_grpc_target(configured: str, dialed: str) -> None:
    assert dial_target(configured) == dialed


@pytest.mark.parametrize("configured", ["127.0.0.1:1,[::1]:2", "127.0.0.1,127.0.0.2:1"])
def test_bad_replica_lists_are_refused(configured: str) -> None:
    with pytest.raises(ValueError, match="target"):
        dial_target(configured)


@pytest.fixture(scope="module")
async def replicas() -> AsyncIterator[list[FakeBackend]]:
    backends = [await FakeBackend(FakeTextService(name="replica")).start() for _ in range(2)]
    yield backends
    for backend in backends:
        await backend.stop()


@pytest.fixture(scope="module")
async def replicated_gateway(replicas: list[FakeBackend], fake_image: FakeBackend) -> AsyncIterator[InProcessGateway]:
    text_target = ",".join(replica.target for replica in replicas)
    gateway = await InProcessGateway(fake_settings(text_target, fake_image.target)).start()
    yield gateway
    await gateway.stop()


async def test_requests_are_spread_over_replicas_and_skip_unhealthy_ones(
    replicated_gateway: InProcessGateway, replicas: list[FakeBackend]
) -> None:
    async with httpx.AsyncClient(base_url=replicated_gateway.url) as client:
        for _ in range(10):
            assert (await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 1})).status_code == 200
        assert all(len(replica.log.requests) >= 3 for replica in replicas)
        await replicas[0].set_serving(False)
        try:
            await _wait_until_skipped(client, replicas[0])
            counts = [len(replica.log.requests) for replica in replicas]
            for _ in range(6):
                assert (
                    await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 1})
                ).status_code == 200
            assert len(replicas[0].log.requests) == counts[0]
            assert len(replicas[1].log.requests) == counts[1] + 6
        finally:
            await replicas[0].set_serving(True)


async def _wait_until_skipped(client: httpx.AsyncClient, replica: FakeBackend) -> None:
    """Sends requests until two in a row avoided the replica (its health watch has reached the channel)."""
    avoided = 0
    for _ in range(100):
        before = len(replica.log.requests)
        await client.post("/generate-text", json={"prompt": "p", "max_new_tokens": 1})
        avoided = avoided + 1 if len(replica.log.requests) == before else 0
        if avoided == 2:
            return
    raise AssertionError("the NOT_SERVING replica kept receiving requests")
