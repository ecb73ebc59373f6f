"""docker-compose.yml and its GPU override, as Docker Compose v2 itself resolves them (``docker compose config``)."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.deploy.deploy_tools import compose_config, compose_run, drain_seconds

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
GPU_FILE = REPO_ROOT / "docker-compose.gpu.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
MODEL_SERVICES = {"text-service": ("TEXT", 50051), "image-service": ("IMAGE", 50052)}


@pytest.fixture(scope="module")
def no_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty env file, so a developer's own .env cannot change what the tests see."""
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


@pytest.fixture(scope="module")
def cpu_stack(no_env_file: Path) -> dict[str, Any]:
    return compose_config([COMPOSE_FILE], no_env_file)


@pytest.fixture(scope="module")
def gpu_stack(no_env_file: Path) -> dict[str, Any]:
    return compose_config([COMPOSE_FILE, GPU_FILE], no_env_file)


def test_the_stack_is_the_three_services(cpu_stack: dict[str, Any], gpu_stack: dict[str, Any]) -> None:
    assert set(cpu_stack["services"]) == {"text-service", "image-service", "gateway"}
    assert set(gpu_stack["services"]) == set(cpu_stack["services"])


def test_every_service_has_a_healthcheck(cpu_stack: dict[str, Any]) -> None:
    for name, service in cpu_stack["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert not service["healthcheck"].get("disable"), f"{name} disables its healthcheck"


def test_model_services_are_checked_over_grpc_health_and_the_gateway_over_http(cpu_stack: dict[str, Any]) -> None:
    services = cpu_stack["services"]
    for name, (prefix, port) in MODEL_SERVICES.items():
        assert services[name]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "serving_core.health_probe",
            f"127.0.0.1:{port}",
        ]
        assert services[name]["environment"][f"HEARTH_{prefix}_PORT"] == str(port)
    gateway_check = " ".join(services["gateway"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/health'" in gateway_check


def test_every_service_listens_on_all_interfaces_inside_its_container(cpu_stack: dict[str, Any]) -> None:
    services = cpu_stack["services"]
    assert services["text-service"]["environment"]["HEARTH_TEXT_HOST"] == "0.0.0.0"
    assert services["image-service"]["environment"]["HEARTH_IMAGE_HOST"] == "0.0.0.0"
    assert services["gateway"]["environment"]["HEARTH_GATEWAY_HOST"] == "0.0.0.0"


def test_the_gateway_reaches_each_backend_by_its_compose_name_and_port(cpu_stack: dict[str, Any]) -> None:
    services = cpu_stack["services"]
    environment = services["gateway"]["environment"]
    for name, (prefix, port) in MODEL_SERVICES.items():
        assert environment[f"HEARTH_GATEWAY_{prefix}_TARGET"] == f"{name}:{port}"
        assert services[name]["networks"].keys() & services["gateway"]["networks"].keys(), f"{name}: other network"


def test_the_gateway_starts_only_once_both_backends_are_healthy(cpu_stack: dict[str, Any]) -> None:
    depends_on = cpu_stack["services"]["gateway"]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends_on.items()} == dict.fromkeys(
        MODEL_SERVICES, "service_healthy"
    )


def test_only_the_gateway_is_published_on_8000_and_on_loopback_by_default(cpu_stack: dict[str, Any]) -> None:
    services = cpu_stack["services"]
    assert services["gateway"]["ports"] == [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 8000, "published": "8000", "protocol": "tcp"}
    ]
    assert not any(services[name].get("ports") for name in MODEL_SERVICES)


def test_the_published_address_is_a_setting(no_env_file: Path) -> None:
    stack = compose_config([COMPOSE_FILE], no_env_file, HEARTH_PUBLISH_ADDRESS="0.0.0.0", HEARTH_PUBLISH_PORT="9000")
    (port,) = stack["services"]["gateway"]["ports"]
    assert (port["host_ip"], port["published"], port["target"]) == ("0.0.0.0", "9000", 8000)


def test_every_service_restarts_unless_stopped(cpu_stack: dict[str, Any]) -> None:
    assert {name: s.get("restart") for name, s in cpu_stack["services"].items()} == dict.fromkeys(
        cpu_stack["services"], "unless-stopped"
    )


def _seconds(duration: str) -> float:
    """Seconds in a Go duration as Compose prints it ("1m0s", "40s")."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"([\d.]+)(ms|h|m|s)", duration))


def test_containers_may_take_longer_to_stop_than_their_service_takes_to_drain(cpu_stack: dict[str, Any]) -> None:
    for name, drain in drain_seconds().items():
        assert _seconds(cpu_stack["services"][name]["stop_grace_period"]) > drain, name


def test_model_folders_are_mounted_read_only_from_the_host(cpu_stack: dict[str, Any], no_env_file: Path) -> None:
    for name in MODEL_SERVICES:
        (volume,) = cpu_stack["services"][name]["volumes"]
        assert (volume["type"], volume["target"], volume.get("read_only")) == ("bind", "/mnt/models", True)
        assert volume["source"] == str(REPO_ROOT / "models")
    elsewhere = compose_config([COMPOSE_FILE], no_env_file, HEARTH_MODELS_DIR="/srv/weights")
    assert {elsewhere["services"][name]["volumes"][0]["source"] for name in MODEL_SERVICES} == {"/srv/weights"}


def test_a_bigger_model_is_chosen_by_path_and_environment_variable(no_env_file: Path) -> None:
    stack = compose_config(
        [COMPOSE_FILE],
        no_env_file,
        HEARTH_TEXT_MODEL="/mnt/models/Qwen2.5-7B-Instruct",
        HEARTH_IMAGE_MODEL="/mnt/models/stable-diffusion-v1-5",
    )
    assert stack["services"]["text-service"]["environment"]["HEARTH_TEXT_MODEL"] == "/mnt/models/Qwen2.5-7B-Instruct"
    assert stack["services"]["image-service"]["environment"]["HEARTH_IMAGE_MODEL"] == (
        "/mnt/models/stable-diffusion-v1-5"
    )


def test_the_default_models_are_the_ones_baked_into_the_images(cpu_stack: dict[str, Any]) -> None:
    from default_models import DIR_NAME, GGUF_NAME

    services = cpu_stack["services"]
    assert services["text-service"]["environment"]["HEARTH_TEXT_MODEL"] == f"/models/text/{GGUF_NAME}"
    assert services["image-service"]["environment"]["HEARTH_IMAGE_MODEL"] == f"/models/image/{DIR_NAME}"
    for name, service in services.items():
        dockerfile = Path(service["build"]["context"]) / service["build"]["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"


def _gpu_reservations(service: dict[str, Any]) -> list[dict[str, Any]]:
    return service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])


def test_the_plain_file_reserves_no_gpu_so_it_runs_anywhere(cpu_stack: dict[str, Any]) -> None:
    assert not any(_gpu_reservations(service) for service in cpu_stack["services"].values())


def test_the_gpu_override_reserves_one_gpu_for_each_model_service(gpu_stack: dict[str, Any]) -> None:
    for name in MODEL_SERVICES:
        (device,) = _gpu_reservations(gpu_stack["services"][name])
        assert device["capabilities"] == ["gpu"]
        assert device["driver"] == "nvidia"
        assert device["device_ids"] == ["0"]
        assert "TORCH_INDEX_URL" in gpu_stack["services"][name]["build"]["args"]
    assert not _gpu_reservations(gpu_stack["services"]["gateway"])


def test_each_model_service_gets_the_gpu_named_by_its_device_id(no_env_file: Path) -> None:
    stack = compose_config(
        [COMPOSE_FILE, GPU_FILE], no_env_file, HEARTH_TEXT_GPU="1", HEARTH_IMAGE_GPU="GPU-5b1e6d2a-0c7e"
    )
    assert _gpu_reservations(stack["services"]["text-service"])[0]["device_ids"] == ["1"]
    assert _gpu_reservations(stack["services"]["image-service"])[0]["device_ids"] == ["GPU-5b1e6d2a-0c7e"]


def test_env_example_documents_every_variable_the_compose_files_read() -> None:
    used = set()
    for file in (COMPOSE_FILE, GPU_FILE):
        used |= set(re.findall(r"\$\{([A-Z0-9_]+)", file.read_text()))
    documented = set(re.findall(r"^#? ?([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE))
    assert used, "the compose files read no variable: the pattern is wrong"
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_env_example_values_are_the_defaults(
    cpu_stack: dict[str, Any], gpu_stack: dict[str, Any], no_env_file: Path
) -> None:
    """Copying .env.example to .env unchanged must give the same stack as no .env at all."""
    assert compose_config([COMPOSE_FILE], ENV_EXAMPLE) == cpu_stack
    assert compose_config([COMPOSE_FILE, GPU_FILE], ENV_EXAMPLE) == gpu_stack


def test_the_config_check_fails_on_a_broken_file(tmp_path: Path, no_env_file: Path) -> None:
    """The check above can fail: Compose refuses a healthcheck interval that is not a duration."""
    broken = tmp_path / "broken.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("interval: 10s", "interval: soon", 1))
    result = compose_run([broken], ["config", "--quiet"], no_env_file)
    assert result.returncode != 0
    assert "interval" in result.stderr
