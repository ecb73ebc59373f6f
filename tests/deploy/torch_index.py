"""A package index with just the CPU torch wheel, for the model images' ``TORCH_INDEX_URL`` under podman.

The Dockerfiles take torch from the PyTorch CPU index by default, which machines like CI's cannot reach; they
reach PyPI (whose Linux torch wheel is the multi-GB CUDA one) and find the CPU wheel through the host's own pip
configuration. So the wheel the host's pip picks for the pinned version is downloaded once into a cache folder,
laid out as a PEP 503 simple index, and mounted into the builds at a fixed path. The URL never changes
between runs, and it has to stay the same: a build argument is part of every later layer's cache key.
"""

import hashlib
import html
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

CACHE = Path.home() / ".cache" / "hearth" / "torch-index"


def pinned_torch() -> str:
    """The ``torch==X`` requirement the model images install, as pyproject.toml pins it."""
    (pin,) = set(re.findall(r'"(torch==[^"]+)"', (REPO_ROOT / "pyproject.toml").read_text()))
    return pin


def _cpu_wheel(pin: str) -> Path:
    """The CPU wheel for ``pin`` in the cache, downloaded with the host's pip configuration when missing."""
    folder = CACHE / "torch"
    version = pin.split("==")[1]
    wheels = sorted(folder.glob(f"torch-{version}+cpu-*.whl"))
    if not wheels:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(folder),
                pin,
            ],
            check=True,
            timeout=900,
        )
        wheels = sorted(folder.glob(f"torch-{version}+cpu-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip found no CPU build of {pin} (a torch-{version}+cpu wheel) for this machine")
    return wheels[-1]


def _write_index(wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    link = f'<a href="{html.escape(wheel.name)}#sha256={digest}">{html.escape(wheel.name)}</a>'
    (wheel.parent / "index.html").write_text(f"<!DOCTYPE html><html><body>{link}</body></html>\n")


MOUNT_POINT = "/torch-index"


def torch_index() -> tuple[str, list[str]]:
    """The index's URL inside a build and the ``podman build`` options that mount it there."""
    wheel = _cpu_wheel(pinned_torch())
    index = wheel.parent / "index.html"
    if not index.exists() or wheel.name not in index.read_text():
        _write_index(wheel)
    return f"file://{MOUNT_POINT}/", ["--volume", f"{CACHE}:{MOUNT_POINT}:ro"]
