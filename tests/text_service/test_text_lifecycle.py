"""A text service of its own: NOT_SERVING while loading, a full queue, a SIGTERM drain, a refused start."""

import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from hearth.text.v1 import text_service_pb2 as pb
from serving_core.model_service import MODEL_LOAD_EXIT_CODE
from tests.service_processes import ServiceProcess, free_port, service_env
from tests.text_service.text_client import CALL_TIMEOUT, stream_request, text_stub

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_loading_then_a_full_queue_then_a_sigterm_drain(
    text_engine: str, text_model_path: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = service_env(
        HEARTH_TEXT_ENGINE=text_engine,
        HEARTH_TEXT_MODEL=str(text_model_path),
        HEARTH_TEXT_PORT=str(port),
        HEARTH_TEXT_MAX_BATCH_SIZE="1",
        HEARTH_TEXT_MAX_QUEUE="0",
        HEARTH_TEXT_KV_CACHE_TOKENS="2048",
    )
    service = ServiceProcess("text_service", port, env, tmp_path / "text_service.log").start()
    try:
        statuses = service.health_until_serving()
        with text_stub(service.target) as stub:
            running = stub.GenerateStream(stream_request(max_new_tokens=48), timeout=CALL_TIMEOUT)
            first = next(running)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Generate(pb.GenerateRequest(params=pb.TextParams(prompt="Hi")), timeout=CALL_TIMEOUT)
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            rest = list(running)
        exit_code = service.process.wait(timeout=120)
    finally:
        service.stop()
    assert statuses[0] == NOT_SERVING, "health answered while the model was still loading"
    assert statuses[-1] == SERVING
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_queue 0" in refused.value.details()
    assert first.text or first.token_ids
    assert rest[-1].finish_reason in (pb.FINISH_REASON_LENGTH, pb.FINISH_REASON_END_OF_SEQUENCE), "drained, not cut"
    assert exit_code == 0
    assert '"finish_reason": "cancelled"' not in service.log_path.read_text()


def test_quantization_off_cuda_is_refused_at_start(text_model_path: Path, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(
        HEARTH_TEXT_MODEL=str(text_model_path), HEARTH_TEXT_PORT=str(port), HEARTH_TEXT_QUANTIZATION="8bit"
    )
    service = ServiceProcess("text_service", port, env, tmp_path / "text_service.log").start()
    assert service.process is not None
    exit_code = service.process.wait(timeout=120)
    assert exit_code == MODEL_LOAD_EXIT_CODE == 2
    assert "quantization=8bit needs a CUDA device" in service.log_path.read_text()


def test_a_model_openvino_cannot_read_is_a_start_up_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(64))
    port = free_port()
    env = service_env(HEARTH_TEXT_MODEL=str(broken), HEARTH_TEXT_PORT=str(port), HEARTH_TEXT_ENGINE="openvino")
    service = ServiceProcess("text_service", port, env, tmp_path / "text_service.log").start()
    assert service.process is not None
    exit_code = service.process.wait(timeout=120)
    log = service.log_path.read_text()
    assert exit_code == MODEL_LOAD_EXIT_CODE
    assert "the openvino engine reads a GGUF file of architecture ['llama', 'qwen2', 'qwen3'] or a folder" in log
    assert str(broken) in log
