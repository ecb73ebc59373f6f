"""Builds the three images from their Dockerfiles, unchanged, with the engine the machine has.

With a Docker engine the Dockerfiles' defaults are used (the official Python image and the PyTorch CPU index).
With podman the stand-in base image and a mounted torch index are passed as the Dockerfiles' own build
arguments, and every build uses the host's network so pip reaches the index the host reaches. Layers are
cached by the engine: a second build with unchanged inputs takes seconds, and a code change rebuilds only the
layers after the project's sources are copied in.
"""

import re
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.deploy.container_engine import Engine

BUILD_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class ServiceImage:
    """One service's image: its Dockerfile, the tag the test gives it and the user it must run as."""

    module: str
    tag: str

    @property
    def dockerfile(self) -> Path:
        return REPO_ROOT / self.module / "Dockerfile"


TEXT = ServiceImage("text_service", "hearth-test/text-service:cpu")
IMAGE = ServiceImage("image_service", "hearth-test/image-service:cpu")
GATEWAY = ServiceImage("http_gateway", "hearth-test/gateway:latest")
SERVICE_IMAGES = [GATEWAY, TEXT, IMAGE]


class BuildFailed(AssertionError):
    """An image did not build; the message names the image and the step that failed."""


def failed_step(output: str) -> str:
    """The last build step the engine started, as it printed it (podman: ``[1/4] STEP 7/7: RUN ...``,
    BuildKit: ``#9 [build 4/6] RUN ...``), or a note that none was printed."""
    steps = re.findall(r"^((?:\[\d+/\d+\] )?STEP \d+/\d+: .*|#\d+ \[[^\]]+\] .*)$", output, flags=re.MULTILINE)
    return steps[-1] if steps else "(no step was started)"


def build(
    engine: Engine, image: ServiceImage, build_args: dict[str, str], options: list[str], dockerfile: Path | None = None
) -> float:
    """Builds ``image`` with extra ``options`` (from ``dockerfile`` instead of its own, if given) and returns the
    seconds it took.

    Raises BuildFailed naming the image and the step that failed.
    """
    args = [f"--build-arg={name}={value}" for name, value in build_args.items()]
    # podman writes OCI images by default, which have no HEALTHCHECK; the docker format keeps it.
    args += ["--layers", "--format=docker"] if engine.is_podman else ["--progress=plain"]
    started = time.monotonic()
    result = engine.run(
        "build",
        "--network=host",
        *engine.limits(),
        *options,
        *args,
        "--file",
        str(dockerfile or image.dockerfile),
        "--tag",
        image.tag,
        str(REPO_ROOT),
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise BuildFailed(
            f"{image.module}/Dockerfile did not build ({engine.name}); failed at {failed_step(output)}\n"
            f"{output[-3000:]}"
        )
    return time.monotonic() - started


def image_size_mb(engine: Engine, image: ServiceImage) -> float:
    """The image's size as the engine reports it (uncompressed, all layers), in MB."""
    result = engine.run("image", "inspect", "--format", "{{.Size}}", image.tag)
    return int(result.stdout.strip()) / 1e6
