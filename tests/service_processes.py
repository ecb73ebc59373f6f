"""Starting the real services as child processes for tests, on free ports, and waiting until they serve."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import REPO_ROOT


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServiceProcess:
    """A service running as `python -m <module>`; its output goes to log_path."""

    module: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "ServiceProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def describe(self) -> str:
        """Whether the service still runs, and the end of its log: what a failed test needs to show."""
        assert self.process is not None
        exit_code = self.process.poll()
        state = "still running" if exit_code is None else f"exited with {exit_code}"
        return f"{self.module} {state}; its log ends:\n{self.log_tail()}"

    def wait_until_serving(self, timeout: float = 180.0) -> "ServiceProcess":
        """Polls the standard gRPC health service until the service reports SERVING."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                self._raise_if_exited()
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.module} not SERVING after {timeout}s:\n{self.log_tail()}")

    def health_until_serving(self, timeout: float = 300.0) -> list[int]:
        """Every health status the service answers, from its first answer until SERVING (proves NOT_SERVING first).

        The channel reconnects at once: gRPC's default backoff grows while the service imports torch and
        could skip the whole NOT_SERVING window.
        """
        seen: list[int] = []
        deadline = time.monotonic() + timeout
        options = [("grpc.initial_reconnect_backoff_ms", 20), ("grpc.max_reconnect_backoff_ms", 100)]
        with grpc.insecure_channel(self.target, options=options) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while health_pb2.HealthCheckResponse.SERVING not in seen:
                self._raise_if_exited()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.module} not SERVING after {timeout}s:\n{self.log_tail()}")
                try:
                    seen.append(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status)
                except grpc.RpcError:
                    time.sleep(0.02)
        return seen

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited in time; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def _raise_if_exited(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(self.describe())


def service_env(**settings: str) -> dict[str, str]:
    """The test environment plus the given settings (HEARTH_TEXT_PORT=..., and so on)."""
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.update(settings)
    return env
