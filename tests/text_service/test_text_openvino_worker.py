"""The OpenVINO engine's worker process dying mid-stream fails only its requests; the service keeps serving."""

import time
from pathlib import Path

import grpc
import psutil
import pytest

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.service_processes import ServiceProcess, free_port, service_env
from tests.text_service.text_client import CALL_TIMEOUT, read_stream, stream_request, text_stub, unary_request

RESTART_TIMEOUT_SECONDS = 180.0


def _worker(service: ServiceProcess) -> psutil.Process:
    assert service.process is not None
    workers = [
        child for child in psutil.Process(service.process.pid).children() if "spawn_main" in " ".join(child.cmdline())
    ]
    assert len(workers) == 1, workers
    return workers[0]


def _generate_once_back(stub: pb_grpc.TextGenerationServiceStub) -> tuple[pb.GenerateResponse, list[grpc.StatusCode]]:
    """Retries a small Generate until a new worker answers it; returns the reply and the refusals before it."""
    refusals = []
    deadline = time.monotonic() + RESTART_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            return stub.Generate(unary_request(max_new_tokens=8), timeout=CALL_TIMEOUT), refusals
        except grpc.RpcError as refused:
            refusals.append(refused.code())
            time.sleep(0.5)
    raise TimeoutError(f"no new worker after {RESTART_TIMEOUT_SECONDS}s; refusals {refusals[-3:]}")


def test_a_killed_worker_fails_its_streams_and_a_new_one_serves(text_model_path: Path, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(HEARTH_TEXT_MODEL=str(text_model_path), HEARTH_TEXT_PORT=str(port), HEARTH_TEXT_ENGINE="openvino")
    service = ServiceProcess("text_service", port, env, tmp_path / "text_service.log").start()
    try:
        service.wait_until_serving()
        first_worker = _worker(service)
        with text_stub(service.target) as stub:
            running = stub.GenerateStream(stream_request(max_new_tokens=400), timeout=CALL_TIMEOUT)
            next(running)
            first_worker.kill()
            with pytest.raises(grpc.RpcError) as failed:
                list(running)
            reply, refusals = _generate_once_back(stub)
            after = read_stream(stub, stream_request(max_new_tokens=8))
        new_worker = _worker(service)
    finally:
        service.stop()
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    assert "the openvino worker process died (exit code -9)" in failed.value.details()
    assert set(refusals) <= {grpc.StatusCode.UNAVAILABLE}, "a request while the worker restarts is UNAVAILABLE"
    assert reply.usage.completion_tokens == 8
    assert reply.text
    assert len(after.token_ids) == 8
    assert new_worker.pid != first_worker.pid
