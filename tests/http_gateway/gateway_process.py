"""A real gateway (`python -m http_gateway`) as a child process on a free port, for end-to-end tests."""

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service_processes import ServiceProcess, free_port, service_env


@dataclass
class GatewayProcess:
    """The gateway's process and its base URL."""

    process: ServiceProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    def wait_until_answering(self, path: str = "/health/ready", timeout: float = 120.0) -> "GatewayProcess":
        """Polls ``path`` until it answers 200: /health/ready needs both backends, /health only the gateway."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.process is not None and self.process.process.poll() is not None:
                raise RuntimeError(self.process.describe())
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the gateway's {path} not 200 after {timeout}s:\n{self.process.log_tail()}")

    def stop(self) -> int:
        return self.process.stop()


def start_gateway(text_target: str, image_target: str, log_path: Path, **settings: str) -> GatewayProcess:
    """Starts a gateway in front of the given targets; ``settings`` are extra HEARTH_GATEWAY_* variables."""
    port = free_port()
    env = service_env(
        HEARTH_GATEWAY_TEXT_TARGET=text_target,
        HEARTH_GATEWAY_IMAGE_TARGET=image_target,
        HEARTH_GATEWAY_PORT=str(port),
        **settings,
    )
    return GatewayProcess(ServiceProcess("http_gateway", port, env, log_path).start())
