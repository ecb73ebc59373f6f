"""A service of its own: NOT_SERVING while loading, a full queue, and a SIGTERM that drains in-flight work."""

import json
import signal
import time
from pathlib import Path

import grpc
import pytest
from diffusers import PNDMScheduler
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from image_service.schedulers import SchedulerCatalog
from image_service.servicer import ImageServicer
from image_service.validation import ImageLimits, RequestDefaults, RequestValidator
from serving_core.model_service import MODEL_LOAD_EXIT_CODE
from tests.image_service.image_client import generate, image_params, image_stub
from tests.service_processes import ServiceProcess, free_port, service_env

SERVING = health_pb2.HealthCheckResponse.SERVING
# Reconnect at once: the default backoff grows to minutes while the service imports torch and would skip the
# short NOT_SERVING window entirely.
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 20),
    ("grpc.min_reconnect_backoff_ms", 20),
    ("grpc.max_reconnect_backoff_ms", 100),
]


def health_until_serving(service: ServiceProcess, timeout: float = 180) -> list[int]:
    """Every health status seen from the first answer until SERVING."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(service.target, options=FAST_RECONNECT) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while SERVING not in seen:
            assert time.monotonic() < deadline, f"not SERVING in time:\n{service.log_tail()}"
            assert service.process is not None
            assert service.process.poll() is None, service.log_tail()
            try:
                seen.append(health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status)
            except grpc.RpcError:
                time.sleep(0.01)
    return seen


def test_loading_then_a_full_queue_then_a_sigterm_drain(image_model_path: Path, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(
        HEARTH_IMAGE_MODEL=str(image_model_path),
        HEARTH_IMAGE_PORT=str(port),
        HEARTH_IMAGE_MAX_QUEUE="1",
        HEARTH_IMAGE_BATCH_WAIT_MS="0",
    )
    service = ServiceProcess("image_service", port, env, tmp_path / "image_service.log").start()
    try:
        statuses = health_until_serving(service)
        with image_stub(service) as stub:
            running = stub.GenerateStream(
                pb.GenerateStreamRequest(params=image_params(num_inference_steps=150, scheduler="euler")), timeout=120
            )
            next(running)
            waiting = stub.Generate.future(pb.GenerateRequest(params=image_params(seed=3)), timeout=120)
            while stub.GetModelInfo(pb.GetModelInfoRequest()).stats.queued_requests < 1:
                time.sleep(0.02)
            with pytest.raises(grpc.RpcError) as refused:
                generate(stub)

            service.process.send_signal(signal.SIGTERM)
            rest = list(running)
            waited = waiting.result()
            with pytest.raises(grpc.RpcError) as after_sigterm:
                generate(stub)
        exit_code = service.process.wait(timeout=60)
    finally:
        service.stop()

    assert statuses[0] == health_pb2.HealthCheckResponse.NOT_SERVING
    assert statuses[-1] == SERVING
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_queue" in refused.value.details()
    assert [message.progress.step for message in rest[:-1]] == list(range(2, 151))
    assert rest[-1].image.data
    assert len(waited.images) == 1
    assert after_sigterm.value.code() == grpc.StatusCode.UNAVAILABLE
    assert exit_code == 0


def test_a_model_that_cannot_be_loaded_exits_2_with_one_error_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    port = free_port()
    env = service_env(HEARTH_IMAGE_MODEL=str(missing), HEARTH_IMAGE_PORT=str(port))
    service = ServiceProcess("image_service", port, env, tmp_path / "image_service.log").start()
    assert service.process is not None
    exit_code = service.process.wait(timeout=120)
    errors = [line for line in service.log_path.read_text().splitlines() if '"level": "error"' in line]
    assert exit_code == MODEL_LOAD_EXIT_CODE == 2
    assert len(errors) == 1, errors
    assert json.loads(errors[0])["msg"] == "model not loaded"
    assert str(missing) in json.loads(errors[0])["error"]


async def test_requests_before_the_pipeline_is_loaded_are_unavailable() -> None:
    server = grpc.aio.server()
    pb_grpc.add_ImageGenerationServiceServicer_to_server(ImageServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ImageGenerationServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as generate_refused:
                await stub.Generate(pb.GenerateRequest(params=image_params()), timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as info_refused:
                await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)
    finally:
        await server.stop(None)

    assert generate_refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert info_refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "loading" in generate_refused.value.details()


class BrokenEngine:
    """An engine with a bug: every submit raises something no refusal covers."""

    def submit(self, *args: object) -> None:
        raise ZeroDivisionError("a bug")


async def test_a_bug_is_answered_internal_with_the_request_id(image_model_path: Path) -> None:
    catalog = SchedulerCatalog(PNDMScheduler.from_pretrained(image_model_path, subfolder="scheduler"))
    validator = RequestValidator(
        ImageLimits(64, 2048, 8, 150, 8, 30.0, 4096), RequestDefaults(512, 512, 50, 7.5, "pndm"), catalog
    )
    servicer = ImageServicer()
    servicer.attach(BrokenEngine(), validator)  # type: ignore[arg-type]
    server = grpc.aio.server()
    pb_grpc.add_ImageGenerationServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ImageGenerationServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Generate(pb.GenerateRequest(params=image_params(), request_id="bug-42"), timeout=10)
    finally:
        await server.stop(None)

    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert "bug-42" in failed.value.details()
