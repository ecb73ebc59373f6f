"""Shared fixtures: where the embedded models and the repository live."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import default_models

if TYPE_CHECKING:
    from tests.http_gateway.gateway_process import GatewayProcess
    from tests.service_processes import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The folder `make models` fills; HEARTH_MODELS_DIR points elsewhere."""
    return Path(os.environ.get("HEARTH_MODELS_DIR", REPO_ROOT / "models"))


@pytest.fixture(scope="session")
def text_model_path(models_dir: Path) -> Path:
    return default_models.text_model_path(models_dir)


@pytest.fixture(scope="session")
def image_model_path(models_dir: Path) -> Path:
    """The tiny random pipeline: the image tests that need a fast pipeline and nothing more use it."""
    return default_models.tiny_image_model_path(models_dir)


@pytest.fixture(scope="session")
def scenes_model_path(models_dir: Path) -> Path:
    """The default image model, trained on procedural scenes: for the tests of what a picture shows."""
    return default_models.image_model_path(models_dir)


def session_service(module: str, prefix: str, model: Path, logs: Path, **settings: str) -> Iterator["ServiceProcess"]:
    """Starts `python -m <module>` on a free port with `<prefix>_*` settings; yields it once SERVING, stops it after."""
    from tests.service_processes import ServiceProcess, free_port, service_env

    port = free_port()
    env = service_env(**{f"{prefix}_MODEL": str(model), f"{prefix}_PORT": str(port)}, **settings)
    service = ServiceProcess(module, port, env, logs / f"{module}.log")
    service.start()
    try:
        yield service.wait_until_serving()
    finally:
        service.stop()


@pytest.fixture(scope="session")
def text_service(text_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator["ServiceProcess"]:
    """One real text service for the whole session, on the embedded model (read-only use: don't stop it)."""
    yield from session_service("text_service", "HEARTH_TEXT", text_model_path, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def image_service(image_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator["ServiceProcess"]:
    """One real image service for the whole session, on the tiny pipeline (read-only use: don't stop it)."""
    yield from session_service("image_service", "HEARTH_IMAGE", image_model_path, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="session")
def gateway(
    text_service: "ServiceProcess", image_service: "ServiceProcess", tmp_path_factory: pytest.TempPathFactory
) -> Iterator["GatewayProcess"]:
    """One real gateway (`python -m http_gateway`) in front of the session's services; `.url` is its base URL.

    Yielded once /health/ready answers 200, i.e. the gateway has seen both backends SERVING.
    """
    from tests.http_gateway.gateway_process import start_gateway

    gateway = start_gateway(
        text_service.target, image_service.target, tmp_path_factory.mktemp("logs") / "http_gateway.log"
    )
    try:
        yield gateway.wait_until_answering("/health/ready")
    finally:
        gateway.stop()
