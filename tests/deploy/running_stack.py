"""The three containers started together on one network, as docker-compose.yml describes them.

Each container gets its compose service's environment, the backends their compose names as network aliases,
and the Kubernetes manifests' hardening: its image's non-root user, a read-only root filesystem with a
writable ``/tmp`` (the manifests' emptyDir), no capabilities and no privilege escalation. Every port is
published on loopback so the test reaches the gateway, and the backends' gRPC health as the kubelet does.
"""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.deploy.container_engine import Engine
from tests.deploy.image_builds import GATEWAY, IMAGE, TEXT, ServiceImage

NETWORK = "hearth-test"
READY_TIMEOUT_SECONDS = 600
HARDENING = ["--read-only", "--tmpfs", "/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges"]


@dataclass(frozen=True)
class Container:
    """One running service: its compose name, image and container port."""

    service: str
    image: ServiceImage
    port: int

    @property
    def name(self) -> str:
        return f"hearth-test-{self.service}"


CONTAINERS = [
    Container("text-service", TEXT, 50051),
    Container("image-service", IMAGE, 50052),
    Container("gateway", GATEWAY, 8000),
]


@dataclass
class RunningStack:
    """The started containers and the loopback addresses their ports are published on."""

    engine: Engine
    addresses: dict[str, str] = field(default_factory=dict)
    start_seconds: float = 0.0

    @property
    def gateway_url(self) -> str:
        return f"http://{self.addresses['gateway']}"

    def logs(self, container: Container) -> str:
        result = self.engine.run("logs", "--tail", "40", container.name)
        return result.stdout + result.stderr

    def exec(self, container: Container, *command: str) -> tuple[int, str]:
        """Runs ``command`` inside ``container`` as the image's user; its exit status and output."""
        result = self.engine.run("exec", container.name, *command)
        return result.returncode, (result.stdout + result.stderr).strip()

    def inspect(self, container: Container) -> dict:
        result = self.engine.run("container", "inspect", container.name)
        return json.loads(result.stdout)[0]


def _remove(engine: Engine) -> None:
    for container in CONTAINERS:
        engine.run("rm", "--force", container.name)
    engine.run("network", "rm", "--force", NETWORK)


def _published_address(engine: Engine, container: Container) -> str:
    result = engine.run("port", container.name, f"{container.port}/tcp")
    host_port = result.stdout.strip().splitlines()[0]
    return host_port.replace("0.0.0.0", "127.0.0.1")


def _start(engine: Engine, container: Container, environment: dict[str, str]) -> None:
    settings = [option for name, value in environment.items() for option in ("--env", f"{name}={value}")]
    result = engine.run(
        "run",
        "--detach",
        "--name",
        container.name,
        "--network",
        NETWORK,
        "--network-alias",
        container.service,
        "--publish",
        f"127.0.0.1::{container.port}",
        *engine.limits(),
        *HARDENING,
        *settings,
        container.image.tag,
    )
    assert result.returncode == 0, f"{container.image.tag} did not start: {result.stderr}"


def _wait_until_ready(stack: RunningStack) -> None:
    """Polls the gateway's readiness until both backends serve; fails early, with logs, if a container dies."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last = "no answer yet"
    while time.monotonic() < deadline:
        for container in CONTAINERS:
            state = stack.inspect(container)["State"]
            if not state["Running"]:
                raise AssertionError(
                    f"{container.image.tag} exited with status {state['ExitCode']} while starting:\n"
                    f"{stack.logs(container)}"
                )
        try:
            answer = httpx.get(f"{stack.gateway_url}/health/ready", timeout=5)
            if answer.status_code == 200:
                return
            last = f"{answer.status_code} {answer.text}"
        except httpx.TransportError as error:
            last = repr(error)
        time.sleep(2)
    logs = "\n".join(f"--- {c.name}\n{stack.logs(c)}" for c in CONTAINERS)
    raise AssertionError(f"not ready after {READY_TIMEOUT_SECONDS} s: {last}\n{logs}")


@contextmanager
def running_stack(engine: Engine, environments: dict[str, dict[str, str]]) -> Iterator[RunningStack]:
    """Starts the three containers with their compose environments and yields once the gateway is ready."""
    _remove(engine)
    created = engine.run("network", "create", NETWORK)
    assert created.returncode == 0, f"{engine.name} network create failed: {created.stderr}"
    stack = RunningStack(engine)
    try:
        started = time.monotonic()
        for container in CONTAINERS:
            _start(engine, container, environments[container.service])
            stack.addresses[container.service] = _published_address(engine, container)
        _wait_until_ready(stack)
        stack.start_seconds = time.monotonic() - started
        yield stack
    finally:
        _remove(engine)
