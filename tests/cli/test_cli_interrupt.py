"""Ctrl-C during `hearth text` or `hearth image` closes the stream, and the server stops the work."""

import signal
from pathlib import Path

import pytest

from tests.cli.hearth_processes import (
    image_stats,
    request_log_lines,
    start_hearth,
    text_stats,
    wait_for_stats,
)
from tests.http_gateway.gateway_process import GatewayProcess
from tests.service_processes import ServiceProcess

EXIT_INTERRUPTED = 130
COUNTING = "1, 2, 3, 4, 5, 6, 7, 8,"
MAX_TOKENS = 1000


@pytest.mark.parametrize("route", ["gateway", "grpc"])
def test_ctrl_c_during_text_stops_the_generation_on_the_server(
    route: str, gateway: GatewayProcess, text_service: ServiceProcess
) -> None:
    where = ["--url", gateway.url] if route == "gateway" else ["--grpc", text_service.target]
    before = text_stats(text_service.target)
    process = start_hearth(["text", COUNTING, "--max-tokens", str(MAX_TOKENS), "--temperature", "0", *where])

    assert process.stdout is not None
    assert process.stdout.read(1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    after = wait_for_stats(
        lambda: text_stats(text_service.target),
        lambda stats: stats.finished_requests > before.finished_requests and stats.active_requests == 0,
    )

    assert process.returncode == EXIT_INTERRUPTED
    assert stderr.strip().splitlines()[-1] == "hearth: cancelled"
    assert after.finished_requests == before.finished_requests + 1
    assert after.active_requests == 0
    assert after.queued_requests == 0
    assert after.generated_tokens - before.generated_tokens < MAX_TOKENS


@pytest.mark.parametrize("route", ["gateway", "grpc"])
def test_ctrl_c_during_image_stops_the_denoising_loop_on_the_server(
    route: str, gateway: GatewayProcess, image_service: ServiceProcess, tmp_path: Path
) -> None:
    steps = {"gateway": 149, "grpc": 148}[route]
    where = ["--url", gateway.url] if route == "gateway" else ["--grpc", image_service.target]
    output = tmp_path / "never.png"
    before = image_stats(image_service.target)
    process = start_hearth(["image", f"interrupted {route}", "-o", str(output), "--steps", str(steps), *where])

    # A new pipeline call, not "a request is active": the previous test's call can still count as active
    # until its worker reaches the next step, and Ctrl-C before this request even started would prove nothing.
    wait_for_stats(
        lambda: image_stats(image_service.target),
        lambda stats: stats.pipeline_calls > before.pipeline_calls or process.poll() is not None,
    )
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    logged = wait_for_stats(
        lambda: [line for line in request_log_lines(image_service) if line.get("steps") == steps],
        lambda lines: len(lines) > 0,
        timeout=120.0,
    )

    assert process.returncode == EXIT_INTERRUPTED
    assert stderr.strip().splitlines()[-1] == "hearth: cancelled"
    assert not output.exists()
    assert [line["outcome"] for line in logged] == ["cancelled"]
    assert logged[0]["steps_done"] < steps
