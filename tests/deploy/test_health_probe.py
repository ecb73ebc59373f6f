"""serving_core.health_probe, the containers' HEALTHCHECK, run as the containers run it against a live gRPC server.

The server is serving_core's own GrpcHost (the host both model services run) with no model behind it, started
in the test process, so each health state is set directly: NOT_SERVING while "loading", SERVING, and down.
"""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from serving_core.grpc_host import GrpcHost
from tests.conftest import REPO_ROOT
from tests.service_processes import free_port

SERVICE_NAME = "hearth.test.v1.ProbeTarget"


@dataclass
class ProbeRun:
    returncode: int
    output: str


async def run_probe(*args: str, **env: str) -> ProbeRun:
    """``python -m serving_core.health_probe ARGS``, as a HEALTHCHECK runs it, while this loop keeps serving."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "serving_core.health_probe",
        *args,
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return ProbeRun(process.returncode or 0, output.decode())


def reported(probe: ProbeRun) -> tuple[int, str]:
    """The probe's exit code and the status word it printed last ("target (service): STATUS")."""
    return probe.returncode, probe.output.strip().rsplit(": ", 1)[-1]


@pytest.fixture
async def host() -> AsyncIterator[tuple[GrpcHost, str]]:
    """A started GrpcHost on a free loopback port, still NOT_SERVING, and its target."""
    grpc_host = GrpcHost(
        bind=f"127.0.0.1:{free_port()}", service_name=SERVICE_NAME, grace_seconds=1, max_message_bytes=1 << 20
    )
    port = await grpc_host.start()
    try:
        yield grpc_host, f"127.0.0.1:{port}"
    finally:
        await grpc_host.server.stop(None)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def test_a_loading_service_is_unhealthy(host: tuple[GrpcHost, str]) -> None:
    _, target = host
    assert reported(await run_probe(target)) == (1, "NOT_SERVING")


async def test_a_serving_service_is_healthy(host: tuple[GrpcHost, str]) -> None:
    grpc_host, target = host
    await grpc_host.mark_serving()
    assert reported(await run_probe(target)) == (0, "SERVING")


async def test_the_services_own_name_can_be_asked_and_an_unknown_one_is_unhealthy(host: tuple[GrpcHost, str]) -> None:
    grpc_host, target = host
    await grpc_host.mark_serving()
    assert reported(await run_probe(target, "--service", SERVICE_NAME)) == (0, "SERVING")
    assert reported(await run_probe(target, "--service", "hearth.nothing.v1.Here")) == (1, "NOT_FOUND")


async def test_a_draining_service_is_unhealthy(host: tuple[GrpcHost, str]) -> None:
    grpc_host, target = host
    await grpc_host.mark_serving()
    await grpc_host.health.enter_graceful_shutdown()
    assert reported(await run_probe(target)) == (1, "NOT_SERVING")


async def test_a_stopped_service_is_unhealthy(host: tuple[GrpcHost, str]) -> None:
    grpc_host, target = host
    await grpc_host.mark_serving()
    await grpc_host.drain()
    assert reported(await run_probe(target)) == (1, "UNAVAILABLE")


async def test_a_port_that_accepts_but_never_answers_is_unhealthy() -> None:
    """A hung process still holding its socket must fail the check, not hang it."""
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        probe = await run_probe(f"127.0.0.1:{port}", "--timeout", "0.5")
    finally:
        silent.close()
    assert reported(probe) in {(1, "DEADLINE_EXCEEDED"), (1, "UNAVAILABLE")}


async def test_the_target_may_name_the_port_variable_as_the_exec_form_healthcheck_does(
    host: tuple[GrpcHost, str],
) -> None:
    grpc_host, target = host
    await grpc_host.mark_serving()
    port = target.rsplit(":", 1)[1]
    probe = await run_probe("127.0.0.1:${HEARTH_TEXT_PORT}", HEARTH_TEXT_PORT=port)
    assert reported(probe) == (0, "SERVING")
    assert probe.output.startswith(f"{target} ")


async def test_the_probe_does_not_import_torch() -> None:
    """It runs every few seconds inside the model containers: importing torch would cost seconds of CPU each time."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "serving_core.health_probe",
        f"127.0.0.1:{free_port()}",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, import_log = await asyncio.wait_for(process.communicate(), timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in import_log.decode().splitlines() if "|" in line}
    assert "grpc_health.v1.health_pb2_grpc" in imported
    assert not {name for name in imported if name.split(".")[0] == "torch"}
