"""Every system under test runs as a child process on a free port, never on Hearth's default ports.

The model services reuse the test helper `ServiceProcess` (gRPC health decides readiness); the HTTP
servers (gateway, naive baseline, `transformers serve`) take command-line arguments and are ready when an
HTTP route says so.
"""

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO_ROOT
from tests.service_processes import ServiceProcess, free_port, service_env

STARTUP_TIMEOUT_SECONDS = 300.0


@dataclass
class HttpProcess(ServiceProcess):
    """`python -m <module> <args>` serving HTTP on `port`."""

    args: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "HttpProcess":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_until_ready(
        self, path: str, is_ready: Callable[[httpx.Response], bool], timeout: float = STARTUP_TIMEOUT_SECONDS
    ) -> "HttpProcess":
        """Polls GET `path` until `is_ready` accepts the answer."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_exited()
            try:
                if is_ready(httpx.get(self.url + path, timeout=2)):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{self.module} not ready after {timeout}s:\n{self.log_tail()}")


def _answers_200(response: httpx.Response) -> bool:
    return response.status_code == 200


def text_service(gguf_path: Path, logs_dir: Path, **settings: str) -> ServiceProcess:
    """Hearth's text service on the given model (started, not yet waited for); `settings` are HEARTH_TEXT_*."""
    port = free_port()
    env = service_env(HEARTH_TEXT_MODEL=str(gguf_path), HEARTH_TEXT_PORT=str(port), **settings)
    return ServiceProcess("text_service", port, env, logs_dir / "text_service.log").start()


def image_service(model_dir: Path, logs_dir: Path, port: int | None = None, **settings: str) -> ServiceProcess:
    """Hearth's image service on the given pipeline (started, not yet waited for); `settings` are HEARTH_IMAGE_*.

    `port` restarts a service where a gateway already expects it.
    """
    port = port or free_port()
    env = service_env(HEARTH_IMAGE_MODEL=str(model_dir), HEARTH_IMAGE_PORT=str(port), **settings)
    return ServiceProcess("image_service", port, env, logs_dir / "image_service.log").start()


def gateway(text_target: str, image_target: str, logs_dir: Path, **settings: str) -> HttpProcess:
    """Hearth's HTTP gateway in front of the given gRPC targets (started, not yet waited for)."""
    port = free_port()
    env = service_env(
        HEARTH_GATEWAY_TEXT_TARGET=text_target,
        HEARTH_GATEWAY_IMAGE_TARGET=image_target,
        HEARTH_GATEWAY_HOST="127.0.0.1",
        HEARTH_GATEWAY_PORT=str(port),
        **settings,
    )
    return HttpProcess("http_gateway", port, env, logs_dir / "http_gateway.log").start()


def wait_for_gateway_backend(process: HttpProcess, health_key: str) -> HttpProcess:
    """Waits until the gateway's /health reports the backend behind `health_key` (e.g. text_model_loaded)."""
    return process.wait_until_ready("/health", lambda r: r.status_code == 200 and r.json().get(health_key) is True)


def naive_baseline(gguf_path: Path, logs_dir: Path) -> HttpProcess:
    """The original single-file design (bench.naive_baseline), started."""
    port = free_port()
    args = ("--model", str(gguf_path), "--port", str(port))
    return HttpProcess("bench.naive_baseline", port, service_env(), logs_dir / "naive_baseline.log", args).start()


def wait_for_naive_baseline(process: HttpProcess) -> HttpProcess:
    return process.wait_until_ready("/health", _answers_200)


# KV-cache blocks of 256 tokens for the peer: room for 64 requests of this bench. Left unset, the cache is sized
# to 90% of free memory, which on a CPU machine means most of its RAM (the kernel killed it mid-run).
PEER_KV_CACHE_BLOCKS = 64


def transformers_serve(checkpoint: Path, logs_dir: Path) -> HttpProcess:
    """The peer, `transformers serve --continuous-batching`, pinned to the checkpoint, started."""
    port = free_port()
    args = (
        "serve",
        str(checkpoint),
        "--continuous-batching",
        "--cb-num-blocks",
        str(PEER_KV_CACHE_BLOCKS),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    env = service_env(TRANSFORMERS_OFFLINE="1")
    return HttpProcess("transformers.cli.transformers", port, env, logs_dir / "transformers_serve.log", args).start()


def wait_for_transformers_serve(process: HttpProcess) -> HttpProcess:
    """The peer listens only after its pinned model has loaded, so a 200 from /health means ready."""
    return process.wait_until_ready("/health", _answers_200)
