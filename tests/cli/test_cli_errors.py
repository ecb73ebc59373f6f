"""What a user sees when something is wrong: one line on stderr and an exit code a script can test."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.hearth_processes import run_hearth
from tests.http_gateway.gateway_process import GatewayProcess, start_gateway
from tests.service_processes import ServiceProcess, free_port

EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_REJECTED = 2, 3, 4


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("command", [["text", "hello"], ["image", "a fox"], ["status"]])
def test_no_gateway_listening_is_one_line_and_exit_3(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = run_hearth([*command, "--url", url])

    assert result.returncode == EXIT_UNAVAILABLE
    assert f"cannot reach the gateway at {url}" in _one_line(result.stderr)


def test_no_service_listening_over_grpc_is_one_line_and_exit_3() -> None:
    target = f"127.0.0.1:{free_port()}"

    result = run_hearth(["text", "hello", "--grpc", target])

    assert result.returncode == EXIT_UNAVAILABLE
    assert f"cannot reach the service at {target}" in _one_line(result.stderr)


def test_image_backend_down_behind_the_gateway(gateway_without_image: GatewayProcess, tmp_path: Path) -> None:
    image = run_hearth(["image", "a fox", "-o", str(tmp_path / "x.png"), "--url", gateway_without_image.url])
    status = run_hearth(["status", "--json", "--url", gateway_without_image.url])
    text = run_hearth(["text", "hello", "--max-tokens", "2", "--url", gateway_without_image.url])

    assert image.returncode == EXIT_UNAVAILABLE
    assert "unavailable" in _one_line(image.stderr)
    assert "HTTP 503" in image.stderr
    assert not (tmp_path / "x.png").exists()
    assert status.returncode == EXIT_UNAVAILABLE
    assert '"name": "image"' in status.stdout
    assert '"ready": false' in status.stdout
    assert text.returncode == 0, text.stderr


@pytest.mark.parametrize("size", ["100x64", "4096x64"])
def test_a_size_the_server_refuses_names_the_field_and_exits_4(
    size: str, gateway: GatewayProcess, image_service: ServiceProcess, tmp_path: Path
) -> None:
    output = str(tmp_path / "x.png")
    through_gateway = run_hearth(["image", "a fox", "-o", output, "--size", size, "--url", gateway.url])
    direct = run_hearth(["image", "a fox", "-o", output, "--size", size, "--grpc", image_service.target])

    for result in (through_gateway, direct):
        assert result.returncode == EXIT_REJECTED
        assert "width" in _one_line(result.stderr)
    assert not Path(output).exists()


def test_a_size_that_is_not_a_size_is_a_usage_error(tmp_path: Path) -> None:
    result = run_hearth(["image", "a fox", "-o", str(tmp_path / "x.png"), "--size", "big"])

    assert result.returncode == EXIT_USAGE
    assert "--size" in result.stderr


@pytest.fixture(scope="module")
def gateway_with_token(
    text_service: ServiceProcess, image_service: ServiceProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    log = tmp_path_factory.mktemp("logs") / "gateway-token.log"
    gateway = start_gateway(text_service.target, image_service.target, log, HEARTH_GATEWAY_API_KEY="s3cret")
    try:
        yield gateway.wait_until_answering("/health")
    finally:
        gateway.stop()


def test_the_token_is_sent_as_a_bearer_token(gateway_with_token: GatewayProcess) -> None:
    args = ["text", "hello", "--max-tokens", "2", "--url", gateway_with_token.url]

    without = run_hearth(args)
    wrong = run_hearth([*args, "--token", "nope"])
    with_token = run_hearth([*args, "--token", "s3cret"])
    from_environment = run_hearth(args, HEARTH_TOKEN="s3cret")

    assert without.returncode == EXIT_REJECTED
    assert "HTTP 401" in _one_line(without.stderr)
    assert wrong.returncode == EXIT_REJECTED
    assert with_token.returncode == 0, with_token.stderr
    assert from_environment.returncode == 0, from_environment.stderr
