"""Out of memory against the real image service: 507 through the gateway, and the service keeps serving.

No hook fakes the failure. The service's address space is capped (RLIMIT_AS, set from outside once it
serves) a few hundred MiB above what it holds, so a request whose activations need more makes torch's CPU
allocator fail for real ("DefaultCPUAllocator: can't allocate memory"), as a GPU runs out of device memory.
Small requests still fit under the cap.
"""

import asyncio
import resource

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from httpx_sse import aconnect_sse

from hearth.image.v1 import image_service_pb2 as image_pb
from hearth.image.v1 import image_service_pb2_grpc as image_grpc
from serving_core.request_errors import ERROR_DOMAIN
from tests.reliability.conftest import StartGateway, StartImage
from tests.service_processes import ServiceProcess, free_port

HEADROOM_BYTES = 300 * 2**20
SMALL = {"prompt": "a lighthouse", "num_inference_steps": 1, "width": 64, "height": 64, "seed": 1}
# Four 2048 px images need gigabytes of activations; one 1024 px image only fails in its VAE decode, after
# its denoising steps have streamed.
TOO_BIG = {**SMALL, "width": 2048, "height": 2048, "num_images": 4}
TOO_BIG_AT_THE_END = {**SMALL, "num_inference_steps": 2, "width": 1024, "height": 1024, "stream": True}


def _cap_address_space(service: ServiceProcess) -> None:
    assert service.process is not None
    pid = service.process.pid
    with open(f"/proc/{pid}/status") as status:
        size_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = size_kib * 1024 + HEADROOM_BYTES
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def _reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.domain == ERROR_DOMAIN
    return info.reason


async def _stream_events(http: httpx.AsyncClient, body: dict) -> list[tuple[str, str]]:
    async with aconnect_sse(http, "POST", "/generate-image", json=body) as source:
        assert source.response.status_code == 200
        return [(event.event, event.data) async for event in source.aiter_sse()]


async def test_a_request_too_big_for_memory_is_507_and_the_service_keeps_serving(
    start_image_service: StartImage, start_gateway: StartGateway
) -> None:
    image = start_image_service()
    _cap_address_space(image)
    gateway = start_gateway(f"127.0.0.1:{free_port()}", image.target)
    await asyncio.to_thread(gateway.wait_until_answering, "/health")

    with grpc.insecure_channel(image.target) as channel:
        stub = image_grpc.ImageGenerationServiceStub(channel)
        params = image_pb.ImageParams(**TOO_BIG)
        with pytest.raises(grpc.RpcError) as refused_over_grpc:
            stub.Generate(image_pb.GenerateRequest(params=params), timeout=120)
    assert refused_over_grpc.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _reason(refused_over_grpc.value) == "OUT_OF_MEMORY"

    async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as http:
        refused = await http.post("/generate-image", json=TOO_BIG)
        assert refused.status_code == 507
        assert refused.json()["error"]["type"] == "insufficient_resources"
        assert "smaller size" in refused.json()["error"]["message"]
        assert "retry-after" not in refused.headers

        events = await _stream_events(http, TOO_BIG_AT_THE_END)
        names = [name for name, _ in events]
        assert names == ["progress", "progress", "error"], names
        assert '"type":"insufficient_resources"' in events[-1][1]

        served = await http.post("/generate-image", json=SMALL)
        assert served.status_code == 200, served.text

    with grpc.insecure_channel(image.target) as channel:
        stats = image_grpc.ImageGenerationServiceStub(channel).GetModelInfo(image_pb.GetModelInfoRequest()).stats
    assert (stats.active_requests, stats.queued_requests) == (0, 0)
