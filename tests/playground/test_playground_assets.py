"""The playground's files: served by the gateway, shipped in the package, and naming no outside URL."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx

from http_gateway.playground import STATIC_DIR
from tests.conftest import REPO_ROOT
from tests.http_gateway.gateway_process import GatewayProcess

# The one URL that may appear: the SVG namespace is a name, never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
NOT_PACKAGED = (".git", ".venv", "models", "node_modules", "build", "*.egg-info", "__pycache__", ".*_cache")
URL = re.compile(r"(?:https?:|wss?:|ftp:)?//[\w.-]+\.[a-z]{2,}", re.IGNORECASE)


def test_no_file_names_an_outside_url() -> None:
    files = sorted(STATIC_DIR.iterdir())
    found = {path.name: URL.findall(path.read_text().replace(SVG_NAMESPACE, "")) for path in files}

    assert {path.name for path in files} >= {"index.html", "playground.js", "sse.js", "playground.css", "favicon.svg"}
    assert all(not urls for urls in found.values()), found


def test_the_gateway_serves_the_page_at_the_root_and_its_assets(gateway: GatewayProcess) -> None:
    page = httpx.get(gateway.url + "/")
    script = httpx.get(gateway.url + "/playground/playground.js")
    icon = httpx.get(gateway.url + "/playground/favicon.svg")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Hearth playground</title>" in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert icon.headers["content-type"].startswith("image/svg+xml")


def test_the_static_files_are_in_the_wheel(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(*NOT_PACKAGED))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path, "."],
        cwd=source,
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("hearth-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())

    for path in STATIC_DIR.iterdir():
        assert f"http_gateway/playground/static/{path.name}" in names
