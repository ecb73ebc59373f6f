"""Every system under test runs as a child process on a free port, never on Hearth's default ports.

The model services reuse the test helper `ServiceProcess` (gRPC health decides readiness); the HTTP
servers (gateway, `transformers serve`) take command-line arguments and are ready when an HTTP route says
so; the in-process OpenVINO child talks JSON lines over its stdin and stdout. `env`, where given, is the
whole environment of the child (see bench.peer_configs); without it, the caller's environment is inherited.
"""

import json
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


def _environment(env: dict[str, str] | None, **settings: str) -> dict[str, str]:
    return service_env(**settings) if env is None else {**env, **settings}


def text_service(gguf_path: Path, logs_dir: Path, env: dict[str, str] | None = None, **settings: str) -> ServiceProcess:
    """Hearth's text service on the given model (started, not yet waited for); `settings` are HEARTH_TEXT_*."""
    port = free_port()
    env = _environment(env, HEARTH_TEXT_MODEL=str(gguf_path), HEARTH_TEXT_PORT=str(port), **settings)
    return ServiceProcess("text_service", port, env, logs_dir / "text_service.log").start()


def image_service(model_dir: Path, logs_dir: Path, port: int | None = None, **settings: str) -> ServiceProcess:
    """Hearth's image service on the given pipeline (started, not yet waited for); `settings` are HEARTH_IMAGE_*.

    `port` restarts a service where a gateway already expects it.
    """
    port = port or free_port()
    env = service_env(HEARTH_IMAGE_MODEL=str(model_dir), HEARTH_IMAGE_PORT=str(port), **settings)
    return ServiceProcess("image_service", port, env, logs_dir / "image_service.log").start()


def gateway(
    text_target: str, image_target: str, logs_dir: Path, env: dict[str, str] | None = None, **settings: str
) -> HttpProcess:
    """Hearth's HTTP gateway in front of the given gRPC targets (started, not yet waited for)."""
    port = free_port()
    env = _environment(
        env,
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


# KV-cache blocks of 256 tokens for the peer: room for 64 requests of this bench. Left unset, the cache is sized
# to 90% of free memory, which on a CPU machine means most of its RAM (the kernel killed it mid-run).
PEER_KV_CACHE_BLOCKS = 64


def transformers_serve(checkpoint: Path, logs_dir: Path, env: dict[str, str]) -> HttpProcess:
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
    env = {**env, "TRANSFORMERS_OFFLINE": "1"}
    return HttpProcess("transformers.cli.transformers", port, env, logs_dir / "transformers_serve.log", args).start()


def wait_for_transformers_serve(process: HttpProcess) -> HttpProcess:
    """The peer listens only after its pinned model has loaded, so a 200 from /health means ready."""
    return process.wait_until_ready("/health", _answers_200)


@dataclass
class OpenVinoChild:
    """`python -m bench.openvino_child`: the OpenVINO pipeline in a process of its own, driven over pipes."""

    gguf_path: Path
    env: dict[str, str]
    log_path: Path
    threads: int | None = None
    process: subprocess.Popen[str] | None = None
    engine: str = ""

    def start(self) -> "OpenVinoChild":
        args = ["--model", str(self.gguf_path)] + ([] if self.threads is None else ["--threads", str(self.threads)])
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bench.openvino_child", *args],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        return self

    def wait_until_ready(self) -> "OpenVinoChild":
        """Blocks until the child has loaded its pipeline (its first line says so)."""
        self.engine = self._read_line()["engine"]
        return self

    def burst(self, prompt: str, max_new_tokens: int, streams: int, time_limit: float) -> list[dict]:
        """One burst of `streams` requests added together; returns the child's stream records as JSON."""
        assert self.process is not None
        assert self.process.stdin is not None
        command = {"prompt": prompt, "max_new_tokens": max_new_tokens, "streams": streams, "time_limit": time_limit}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read_line()["records"]

    def _read_line(self) -> dict:
        assert self.process is not None
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"bench.openvino_child exited with {self.process.returncode}:\n{tail}")
        return json.loads(line)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self, timeout: float = 30.0) -> None:
        """Closes its stdin (it exits at the end of input), then kills it if it lingers."""
        assert self.process is not None
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
