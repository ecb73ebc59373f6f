"""Overload: more concurrent requests than a service's queue holds.

The excess is refused at once (RESOURCE_EXHAUSTED with reason QUEUE_FULL and a RetryInfo over gRPC, 429 with
the RetryInfo's Retry-After through the gateway), every accepted request completes, no request is lost or
left hanging, and the service is idle and healthy after.
"""

import asyncio
import base64

import grpc
import httpx
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from hearth.image.v1 import image_service_pb2 as image_pb
from hearth.image.v1 import image_service_pb2_grpc as image_grpc
from hearth.text.v1 import text_service_pb2 as text_pb
from hearth.text.v1 import text_service_pb2_grpc as text_grpc
from serving_core.request_errors import ERROR_DOMAIN
from tests.reliability.conftest import StartGateway, StartImage, StartText
from tests.service_processes import free_port

CALLERS = 12
ANSWER_WITHIN_SECONDS = 240
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _reason_and_retry(error: grpc.aio.AioRpcError) -> tuple[str, int]:
    """The ErrorInfo reason and the RetryInfo delay (whole seconds) of a refusal."""
    status = rpc_status.from_call(error)
    assert status is not None
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert status.details[1].Unpack(retry)
    assert info.domain == ERROR_DOMAIN
    return info.reason, retry.retry_delay.seconds


async def _serving(channel: grpc.aio.Channel) -> bool:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_text_service_refuses_what_its_queue_cannot_hold_and_completes_the_rest(
    start_text_service: StartText,
) -> None:
    service = start_text_service(HEARTH_TEXT_MAX_QUEUE="2", HEARTH_TEXT_MAX_BATCH_SIZE="2")
    request = text_pb.GenerateRequest(
        params=text_pb.TextParams(
            prompt="Count from one to ten:", sampling=text_pb.SamplingParams(max_new_tokens=8, temperature=0)
        )
    )

    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = text_grpc.TextGenerationServiceStub(channel)

        async def call() -> text_pb.GenerateResponse | grpc.aio.AioRpcError:
            try:
                return await stub.Generate(request, timeout=ANSWER_WITHIN_SECONDS)
            except grpc.aio.AioRpcError as error:
                return error

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(call() for _ in range(CALLERS))), timeout=ANSWER_WITHIN_SECONDS
        )
        refused = [outcome for outcome in outcomes if isinstance(outcome, grpc.aio.AioRpcError)]
        for error in refused:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
            assert _reason_and_retry(error) == ("QUEUE_FULL", 1)
        completed = [outcome for outcome in outcomes if isinstance(outcome, text_pb.GenerateResponse)]
        assert len(completed) + len(refused) == CALLERS, "a request neither completed nor was refused"
        # 2 in the batch and 2 queued are admitted at once; later callers may find a freed slot.
        assert len(completed) >= 4, "the service refused requests its batch and queue had room for"
        assert refused, "nothing was refused: the queue bound is not enforced"
        assert all(reply.usage.completion_tokens == 8 for reply in completed)

        assert await _serving(channel)
        stats = (await stub.GetModelInfo(text_pb.GetModelInfoRequest(), timeout=10)).stats
        assert (stats.active_requests, stats.queued_requests) == (0, 0)
        after = await stub.Generate(request, timeout=ANSWER_WITHIN_SECONDS)
        assert after.usage.completion_tokens == 8


async def test_gateway_answers_429_with_retry_after_when_the_image_queue_is_full(
    start_image_service: StartImage, start_gateway: StartGateway
) -> None:
    image = start_image_service(HEARTH_IMAGE_MAX_QUEUE="1", HEARTH_IMAGE_MAX_BATCH_IMAGES="1")
    gateway = start_gateway(f"127.0.0.1:{free_port()}", image.target, HEARTH_GATEWAY_RETRY_AFTER_SECONDS="9")
    body = {"prompt": "a lighthouse", "num_inference_steps": 12, "width": 64, "height": 64, "seed": 3}

    async with httpx.AsyncClient(base_url=gateway.url, timeout=ANSWER_WITHIN_SECONDS) as http:
        responses = await asyncio.wait_for(
            asyncio.gather(*(http.post("/generate-image", json=body) for _ in range(CALLERS))),
            timeout=ANSWER_WITHIN_SECONDS,
        )
        statuses = sorted(response.status_code for response in responses)
        assert set(statuses) == {200, 429}, statuses
        # One runs and one waits (max_batch_images 1, max_queue 1); later callers may find a freed slot.
        assert statuses.count(200) >= 2, statuses
        for response in responses:
            if response.status_code == 429:
                # The service's RetryInfo (1 s), not the gateway's fallback for statuses without one (9 s).
                assert response.headers["Retry-After"] == "1"
                assert response.json()["error"]["type"] == "rate_limit_error"
            else:
                assert base64.b64decode(response.json()["image_base64"]).startswith(PNG_MAGIC)

        assert (await http.get("/health")).json()["image_model_loaded"] is True
        assert (await http.post("/generate-image", json=body)).status_code == 200

    async with grpc.aio.insecure_channel(image.target) as channel:
        stub = image_grpc.ImageGenerationServiceStub(channel)
        stats = (await stub.GetModelInfo(image_pb.GetModelInfoRequest(), timeout=10)).stats
        assert (stats.active_requests, stats.queued_requests) == (0, 0)
