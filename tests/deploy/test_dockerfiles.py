"""The three Dockerfiles: hadolint-clean, and shaped as the deployment needs them (user, CMD, health, contents).

These read the Dockerfiles; test_containers builds the images and runs them.
"""

import ast
import json
import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from default_models import DIR_NAME, GGUF_NAME
from tests.conftest import REPO_ROOT
from tests.deploy.deploy_tools import hadolint

FIRST_PARTY = {
    "hearth",
    "text_service",
    "image_service",
    "http_gateway",
    "serving_core",
    "default_models",
    "hearth_cli",
}


@dataclass(frozen=True)
class Image:
    """What one service's image must hold."""

    module: str
    extra: str
    env_prefix: str
    port: int
    model: str | None

    @property
    def dockerfile(self) -> Path:
        return REPO_ROOT / self.module / "Dockerfile"


IMAGES = [
    Image("text_service", "text", "TEXT", 50051, f"/models/text/{GGUF_NAME}"),
    Image("image_service", "image", "IMAGE", 50052, f"/models/image/{DIR_NAME}"),
    Image("http_gateway", "gateway", "GATEWAY", 8000, None),
]
MODEL_IMAGES = [image for image in IMAGES if image.model]


def _instructions(image: Image) -> list[tuple[str, str]]:
    """(INSTRUCTION, value) pairs, comments left out."""
    structure = DockerfileParser(str(image.dockerfile)).structure
    return [(item["instruction"], item["value"]) for item in structure if item["instruction"] != "COMMENT"]


def _final_stage(image: Image) -> list[tuple[str, str]]:
    instructions = _instructions(image)
    last_from = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


def _only(stage: list[tuple[str, str]], instruction: str) -> str:
    (value,) = [value for name, value in stage if name == instruction]
    return value


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_hadolint_finds_no_errors_or_warnings(image: Image) -> None:
    findings = hadolint(image.dockerfile)
    serious = [f"{f['line']} {f['code']} {f['message']}" for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "\n".join(serious)


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_multi_stage_on_slim_python_311(image: Image) -> None:
    parser = DockerfileParser(str(image.dockerfile))
    assert parser.is_multistage
    assert parser.baseimage.startswith("python:3.11-slim")


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_runs_as_a_numeric_non_root_user(image: Image) -> None:
    user = _only(_final_stage(image), "USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), f"USER {user}: Kubernetes' runAsNonRoot needs a numeric uid"
    assert int(uid) != 0


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_cmd_is_exec_form_so_sigterm_reaches_the_server(image: Image) -> None:
    final = _final_stage(image)
    assert json.loads(_only(final, "CMD")) == ["python", "-m", image.module]
    assert not [value for name, value in final if name == "ENTRYPOINT"]


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_binds_all_interfaces_on_the_exposed_port(image: Image) -> None:
    envs = DockerfileParser(str(image.dockerfile)).envs
    assert envs[f"HEARTH_{image.env_prefix}_HOST"] == "0.0.0.0"
    assert envs[f"HEARTH_{image.env_prefix}_PORT"] == str(image.port)
    assert _only(_final_stage(image), "EXPOSE") == str(image.port)


@pytest.mark.parametrize("image", MODEL_IMAGES, ids=lambda image: image.module)
def test_model_images_check_health_with_the_grpc_probe(image: Image) -> None:
    healthcheck = _only(_final_stage(image), "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    port_variable = f"HEARTH_{image.env_prefix}_PORT"
    assert command == ["python", "-m", "serving_core.health_probe", f"127.0.0.1:${{{port_variable}}}"]


def test_the_gateway_image_checks_http_health() -> None:
    (gateway,) = [image for image in IMAGES if image.module == "http_gateway"]
    command = json.loads(_only(_final_stage(gateway), "HEALTHCHECK").split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/health" in command[2]
    assert "HEARTH_GATEWAY_PORT" in command[2]


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_installs_only_its_own_extra(image: Image) -> None:
    runs = [value for name, value in _instructions(image) if name == "RUN"]
    installed = {extra for run in runs for extra in re.findall(r'pip install [^&]*?"\.\[(\w+)\]"', run)}
    assert installed == {image.extra}
    final = _final_stage(image)
    copied_into_runtime = {value.split()[-1] for name, value in final if name == "COPY"}
    assert "/opt/venv" in copied_into_runtime
    assert not [value for name, value in final if name == "RUN" and "pip" in value], "pip runs in the runtime stage"


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_dependencies_are_installed_before_the_code_is_copied_in(image: Image) -> None:
    """So a code change rebuilds only the project's own small layers, not torch and the rest."""
    instructions = _instructions(image)
    dependencies = next(i for i, (name, value) in enumerate(instructions) if name == "RUN" and '".[' in value)
    first_code_copy = next(
        i for i, (name, value) in enumerate(instructions) if name == "COPY" and value.split()[0] == image.module
    )
    assert dependencies < first_code_copy
    assert [name for name, value in instructions[:dependencies] if name == "COPY"] == ["COPY"]


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_the_runtime_takes_dependencies_and_project_as_separate_layers(image: Image) -> None:
    """The venv layer (about 1 GB in the model images) is then reused when only the code changed."""
    copies = [value for name, value in _final_stage(image) if name == "COPY" and "--from" in value]
    assert "--from=deps /opt/venv /opt/venv" in copies
    assert "--from=build /opt/hearth /opt/hearth" in copies
    assert DockerfileParser(str(image.dockerfile)).envs["PYTHONPATH"] == "/opt/hearth"


@pytest.mark.parametrize("image", MODEL_IMAGES, ids=lambda image: image.module)
def test_model_images_bake_in_the_embedded_model_with_the_projects_fetch_step(image: Image) -> None:
    kind = image.extra
    runs = [value for name, value in _instructions(image) if name == "RUN"]
    assert any(f"python -m default_models --only {kind} --models-dir /models" in run for run in runs)
    final = _final_stage(image)
    assert any(name == "COPY" and value.endswith("/models /models") for name, value in final)
    assert DockerfileParser(str(image.dockerfile)).envs[f"HEARTH_{image.env_prefix}_MODEL"] == image.model


@pytest.mark.parametrize("image", MODEL_IMAGES, ids=lambda image: image.module)
def test_model_images_take_torch_from_a_build_argument_cpu_by_default(image: Image) -> None:
    instructions = _instructions(image)
    assert ("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") in instructions
    installs = [
        value for name, value in instructions if name == "RUN" and "pip install" in value and "--no-deps" not in value
    ]
    assert installs
    assert all('--extra-index-url "${TORCH_INDEX_URL}"' in value for value in installs)


def test_the_gateway_image_has_no_torch() -> None:
    (gateway,) = [image for image in IMAGES if image.module == "http_gateway"]
    assert not [value for name, value in _instructions(gateway) if "torch" in value.lower()]
    assert "torch" not in _requirement_closure("hearth", "gateway")


def _requirement_closure(name: str, extra: str) -> set[str]:
    """Every installed distribution that ``pip install NAME[EXTRA]`` brings in, from the installed metadata."""
    seen: set[str] = set()
    pending = [(name, (extra,))]
    while pending:
        current, extras = pending.pop()
        key = canonicalize_name(current)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = distribution(current).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({"extra": e}) for e in (*extras, "")):
                pending.append((requirement.name, tuple(requirement.extras)))
    return seen


def _copied_packages(image: Image) -> set[str]:
    copies = [value.split() for name, value in _instructions(image) if name == "COPY" and "--from" not in value]
    return {words[0].rstrip("/") for words in copies}


def _first_party_imports(package_dir: Path) -> set[str]:
    imported: set[str] = set()
    for source in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    return imported & FIRST_PARTY


@pytest.mark.parametrize("image", IMAGES, ids=lambda image: image.module)
def test_every_first_party_package_the_service_imports_is_copied_in(image: Image) -> None:
    copied = _copied_packages(image)
    available = (copied & FIRST_PARTY) | ({"hearth"} if "protos" in copied else set())
    assert image.module in available
    needed = set().union(*(_first_party_imports(REPO_ROOT / package) for package in available - {"hearth"}))
    assert needed <= available, f"{image.module} imports {sorted(needed - available)}, which its image lacks"


def test_dockerignore_lets_in_only_what_the_images_copy() -> None:
    rules = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert rules[0] == "*", "the build context starts empty and lists what it lets in"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    for image in IMAGES:
        assert _copied_packages(image) - {"./"} <= allowed | {"pyproject.toml", "README.md"}
    copied = set().union(*map(_copied_packages, IMAGES))
    assert allowed <= copied | {"pyproject.toml", "README.md"}, "lets in what no image copies"
    assert not allowed & {".venv", "models", "node_modules", ".git", "tests", "bench"}
