"""A stand-in for the official ``python:3.11-slim-bookworm`` image, made from Debian bookworm's own packages.

Machines without a Docker engine have no container registry either, so the Dockerfiles' ``PYTHON_IMAGE`` is
built here with mmdebstrap: Debian's Python 3.11 (the official image's minor version) with ``python`` and
``venv``, and the certificate authorities this host trusts, so that pip inside a build reaches the same package
index through the same TLS-inspecting proxy the host uses. The image is tagged with a hash of its recipe and
of those certificates and is built only when no image has that tag, so later runs reuse it.
"""

import hashlib
import subprocess
import tempfile
from pathlib import Path

from tests.deploy.container_engine import Engine

REPOSITORY = "localhost/hearth-test/python-base"
SUITE = "bookworm"
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates"]
# Documentation, manual pages and translations are left out, as in the official slim image.
DPKG_OPTIONS = [
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
]
HOOKS = [
    f"copy-in {HOST_CERTIFICATES} /usr/local/share",
    'chroot "$1" update-ca-certificates',
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
]
# What the official image sets and the Dockerfiles rely on.
IMAGE_CHANGES = ["ENV LANG=C.UTF-8", 'CMD ["python"]']


def _mmdebstrap_command(tarball: Path) -> list[str]:
    command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
    command += [f"--dpkgopt={option}" for option in DPKG_OPTIONS]
    command += [f"--customize-hook={hook}" for hook in HOOKS]
    return [*command, SUITE, str(tarball)]


def _tag() -> str:
    """The recipe's and the host certificates' hash: a changed one gives a new image, an unchanged one is reused."""
    digest = hashlib.sha256(repr((_mmdebstrap_command(Path("-")), IMAGE_CHANGES)).encode())
    for certificate in sorted(HOST_CERTIFICATES.glob("*.crt")):
        digest.update(certificate.read_bytes())
    return f"{REPOSITORY}:3.11-{SUITE}-{digest.hexdigest()[:12]}"


def ensure_python_base(engine: Engine) -> str:
    """The stand-in base image's reference, built with mmdebstrap and imported into ``engine`` if missing."""
    tag = _tag()
    if engine.run("image", "exists", tag).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="hearth-base-") as directory:
        tarball = Path(directory) / "rootfs.tar"
        made = subprocess.run(
            ["nice", "-n", "10", *_mmdebstrap_command(tarball)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if made.returncode != 0:
            raise RuntimeError(f"mmdebstrap could not make the Python base image:\n{made.stderr[-4000:]}")
        changes = [option for change in IMAGE_CHANGES for option in ("--change", change)]
        imported = engine.run("import", *changes, str(tarball), tag, timeout=300)
        if imported.returncode != 0:
            raise RuntimeError(f"{engine.name} import of the Python base image failed:\n{imported.stderr}")
    return tag
