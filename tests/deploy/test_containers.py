"""The three images built from their Dockerfiles, run together, and used through the gateway's container.

Where a Docker engine answers it is used with the Dockerfiles' defaults; elsewhere (CI, the development
machines) rootful podman builds them on a Debian-made stand-in for the official Python image (see
``python_base``), with torch's CPU wheel from a mounted index (see ``torch_index``). The containers run as
docker-compose.yml configures them and hardened as deploy/kubernetes asks. Built layers are kept by the
engine, so a second run with unchanged inputs skips the builds.
"""

import base64
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from httpx_sse import connect_sse
from PIL import Image

from default_models import image_model_path
from tests.conftest import REPO_ROOT
from tests.deploy.container_engine import Engine, find_engine
from tests.deploy.deploy_tools import compose_config
from tests.deploy.image_builds import GATEWAY, IMAGE, SERVICE_IMAGES, BuildFailed, build, image_size_mb
from tests.deploy.python_base import ensure_python_base
from tests.deploy.running_stack import CONTAINERS, HARDENING, RunningStack, running_stack
from tests.deploy.torch_index import torch_index

# Cold, the base image and three builds take most of this on a 2-core machine; warm, seconds.
pytestmark = pytest.mark.timeout(3600)

BACKENDS = [container for container in CONTAINERS if container.service != "gateway"]
(GATEWAY_CONTAINER,) = [container for container in CONTAINERS if container.service == "gateway"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    found, reason = find_engine()
    if found is None:
        pytest.skip(reason)
    return found


def _report(request: pytest.FixtureRequest, line: str) -> None:
    """Prints a line past pytest's output capture, so build and start times show in every run's log."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[containers] {line}", flush=True)


@pytest.fixture(scope="module")
def build_setup(engine: Engine) -> tuple[dict[str, str], list[str]]:
    """The build arguments and options this machine needs: none with Docker; with podman the stand-in base and
    the mounted torch index."""
    if not engine.is_podman:
        return {}, []
    url, options = torch_index()
    return {"PYTHON_IMAGE": ensure_python_base(engine), "TORCH_INDEX_URL": url}, options


@pytest.fixture(scope="module")
def compose_environments(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Each service's environment as docker-compose.yml resolves it with no .env file."""
    env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    env_file.write_text("")
    services = compose_config([REPO_ROOT / "docker-compose.yml"], env_file)["services"]
    return {name: {k: v or "" for k, v in service["environment"].items()} for name, service in services.items()}


@pytest.fixture(scope="module")
def built(
    engine: Engine, build_setup: tuple[dict[str, str], list[str]], request: pytest.FixtureRequest
) -> dict[str, float]:
    """Builds the three images (reusing cached layers) and returns each one's size in MB."""
    seconds = {image.module: build(engine, image, *build_setup) for image in SERVICE_IMAGES}
    sizes = {image.module: image_size_mb(engine, image) for image in SERVICE_IMAGES}
    for module, size in sizes.items():
        _report(request, f"{module}: built in {seconds[module]:.0f} s, {size:.0f} MB")
    return sizes


@pytest.fixture(scope="module")
def stack(
    engine: Engine,
    built: dict[str, float],
    compose_environments: dict[str, dict[str, str]],
    request: pytest.FixtureRequest,
) -> Iterator[RunningStack]:
    with running_stack(engine, compose_environments) as running:
        _report(request, f"started and ready through the gateway after {running.start_seconds:.0f} s")
        yield running


def test_a_broken_dockerfile_fails_naming_the_image_and_the_step(
    engine: Engine, built: dict[str, float], build_setup: tuple[dict[str, str], list[str]], tmp_path: Path
) -> None:
    """The build check can fail, and says where: a COPY of a path that is not there (cached layers make it quick)."""
    broken = tmp_path / "Dockerfile"
    broken.write_text(GATEWAY.dockerfile.read_text().replace("COPY http_gateway http_gateway", "COPY http_gateways x"))
    with pytest.raises(BuildFailed) as failure:
        build(engine, GATEWAY, *build_setup, dockerfile=broken)
    first_line = str(failure.value).splitlines()[0]
    assert first_line.startswith("http_gateway/Dockerfile did not build")
    assert "COPY http_gateways x" in first_line


def test_an_unreadable_model_stops_the_image_service_with_permission_denied(
    engine: Engine, built: dict[str, float], tmp_path: Path
) -> None:
    """Weights the service's user cannot read (root's 0600 files on the host, mounted as compose mounts models)."""
    tmp_path.chmod(0o755)
    model = tmp_path / "tiny-sd"
    shutil.copytree(image_model_path(REPO_ROOT / "models"), model)
    for weights in model.rglob("*.safetensors"):
        weights.chmod(0o600)
    result = engine.run(
        "run",
        "--rm",
        "--network=none",
        *engine.limits(),
        *HARDENING,
        "--volume",
        f"{tmp_path}:/mnt/models:ro",
        "--env",
        "HEARTH_IMAGE_MODEL=/mnt/models/tiny-sd",
        IMAGE.tag,
        timeout=300,
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "permission denied" in result.stdout + result.stderr
    assert "diffusion_pytorch_model.safetensors (mode 0600, owner uid 0)" in result.stdout + result.stderr


def test_the_gateway_container_is_ready_with_both_backends(stack: RunningStack) -> None:
    answer = httpx.get(f"{stack.gateway_url}/health/ready", timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["text_model_loaded"] is True
    assert body["image_model_loaded"] is True


def test_a_text_reply_streams_through_the_gateway_container(stack: RunningStack) -> None:
    request = {"prompt": "The capital of France is", "max_new_tokens": 8, "temperature": 0, "stream": True}
    with (
        httpx.Client(timeout=120) as client,
        connect_sse(client, "POST", f"{stack.gateway_url}/generate-text", json=request) as events,
    ):
        assert events.response.status_code == 200
        received = [(event.event, json.loads(event.data)) for event in events.iter_sse()]
    tokens = [data["text"] for kind, data in received if kind == "token"]
    assert len(tokens) >= 2, received
    assert "".join(tokens).strip()
    assert received[-1][0] == "done"
    assert received[-1][1]["usage"]["completion_tokens"] == 8


def test_a_512_by_512_image_comes_through_the_gateway_container(stack: RunningStack) -> None:
    request = {"prompt": "a red circle", "num_inference_steps": 2, "height": 512, "width": 512}
    answer = httpx.post(f"{stack.gateway_url}/generate-image", json=request, timeout=300)
    assert answer.status_code == 200, answer.text
    picture = Image.open(io.BytesIO(base64.b64decode(answer.json()["image_base64"])))
    assert picture.size == (512, 512)


def test_the_gateway_container_exports_metrics(stack: RunningStack) -> None:
    httpx.get(f"{stack.gateway_url}/health", timeout=10).raise_for_status()
    answer = httpx.get(f"{stack.gateway_url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'hearth_gateway_backend_up{backend="text"} 1.0' in answer.text
    assert 'hearth_gateway_backend_up{backend="image"} 1.0' in answer.text
    assert "hearth_gateway_requests_total{" in answer.text


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda container: container.service)
def test_each_container_runs_as_its_non_root_user_on_a_read_only_root(stack: RunningStack, container: Any) -> None:
    status, ids = stack.exec(container, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert (status, ids) == (0, "10001 10001")
    status, output = stack.exec(container, "python", "-c", "open('/opt/venv/written', 'w')")
    assert status != 0
    assert "Read-only file system" in output


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda container: container.service)
def test_each_images_own_healthcheck_passes(stack: RunningStack, container: Any) -> None:
    """The image's HEALTHCHECK, run now (podman runs it only when asked; without systemd nobody asks)."""
    if stack.engine.is_podman:
        result = stack.engine.run("healthcheck", "run", container.name, timeout=60)
        assert result.returncode == 0, f"{container.image.tag}: {result.stdout} {result.stderr}"
    else:
        health = stack.inspect(container)["State"]["Health"]
        deadline = time.monotonic() + 60
        while health["Status"] == "starting" and time.monotonic() < deadline:
            time.sleep(2)
            health = stack.inspect(container)["State"]["Health"]
        assert health["Status"] == "healthy", health


@pytest.mark.parametrize("container", BACKENDS, ids=lambda container: container.service)
def test_the_kubernetes_grpc_probe_passes_against_each_backend(stack: RunningStack, container: Any) -> None:
    """What the kubelet's ``grpc: {port}`` probe asks: Health.Check for the whole server, from outside."""
    with grpc.insecure_channel(stack.addresses[container.service]) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_the_kubernetes_http_probe_passes_against_the_gateway(stack: RunningStack) -> None:
    assert httpx.get(f"{stack.gateway_url}/health", timeout=5).status_code == 200


def test_the_gateway_image_has_no_torch(stack: RunningStack, built: dict[str, float]) -> None:
    status, output = stack.exec(GATEWAY_CONTAINER, "python", "-c", "import torch")
    assert status != 0
    assert "No module named 'torch'" in output
    assert built["http_gateway"] < built["text_service"] / 3


@pytest.mark.parametrize("container", CONTAINERS, ids=lambda container: container.service)
def test_sigterm_stops_each_container_cleanly(stack: RunningStack, container: Any) -> None:
    """Runs last: ``stop`` sends SIGTERM, and each service drains and exits 0 well before the grace period."""
    result = stack.engine.run("stop", "--time", "60", container.name, timeout=120)
    assert result.returncode == 0, result.stderr
    assert stack.inspect(container)["State"]["ExitCode"] == 0, stack.logs(container)
