"""A package index with just the CPU torch wheel, served on loopback for the model images' ``TORCH_INDEX_URL``.

The Dockerfiles take torch from the PyTorch CPU index by default, which machines like CI's cannot reach; they
reach PyPI (whose Linux torch wheel is the multi-GB CUDA one) and find the CPU wheel through the host's own pip
configuration. So the wheel the host's pip picks for the pinned version is downloaded once into a cache folder,
laid out as a PEP 503 simple index, and served over HTTP on 127.0.0.1 while the images build with the host's
network (pip trusts plain HTTP on loopback).
"""

import hashlib
import html
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without a log line per request, which would bury the test's own output."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_torch_index() -> Iterator[str]:
    """Serves the index while the block runs and yields its URL (for ``--extra-index-url``)."""
    wheel = _cpu_wheel(pinned_torch())
    if not (wheel.parent / "index.html").exists() or wheel.name not in (wheel.parent / "index.html").read_text():
        _write_index(wheel)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(CACHE)))
    thread = threading.Thread(target=server.serve_forever, name="torch-index", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
