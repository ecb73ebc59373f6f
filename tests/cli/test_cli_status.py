"""`hearth status`: health, model, engine, device, dtype and queue of each service, from the gateway or over gRPC."""

import json

from default_models import TINY_DIR_NAME
from tests.cli.hearth_processes import run_hearth
from tests.http_gateway.gateway_process import GatewayProcess
from tests.service_processes import ServiceProcess


def test_status_through_the_gateway_lists_both_models_and_exits_zero(gateway: GatewayProcess) -> None:
    result = run_hearth(["status", "--url", gateway.url])

    assert result.returncode == 0, result.stderr
    for expected in ("gateway", "text", "image", "SmolLM2", TINY_DIR_NAME, "cpu", "float32"):
        assert expected in result.stdout


def test_status_json_has_one_ready_row_per_service(gateway: GatewayProcess) -> None:
    result = run_hearth(["status", "--json", "--url", gateway.url])

    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"gateway", "text", "image"}
    assert all(row["ready"] for row in rows.values())
    assert rows["text"]["device"] == "cpu"
    assert rows["text"]["engine"] == "openvino-continuous-batching", "auto serves the embedded GGUF on OpenVINO"
    assert rows["text"]["detail"]["engine"] == rows["text"]["engine"], "the gateway's /health names it"
    assert rows["image"]["engine"] == "StableDiffusionPipeline"
    assert rows["image"]["queued"] == 0


def test_status_over_grpc_asks_each_service_directly(
    text_service: ServiceProcess, image_service: ServiceProcess
) -> None:
    result = run_hearth(["status", "--json", "--grpc", text_service.target, "--grpc", image_service.target])

    assert result.returncode == 0, result.stderr
    text_row, image_row = json.loads(result.stdout)
    assert text_row["name"] == f"text ({text_service.target})"
    assert "SmolLM2" in text_row["model"]
    assert image_row["name"] == f"image ({image_service.target})"
    assert image_row["model"] == TINY_DIR_NAME
    assert text_row["dtype"]
    assert image_row["dtype"]
    assert text_row["engine"] == "openvino-continuous-batching"
    assert text_row["active"] == 0
    assert image_row["queued"] == 0
