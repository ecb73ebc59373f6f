"""`hearth up` and `hearth down`: the whole stack in the background, found again by its pid file."""

import socket
from pathlib import Path

from tests.cli.hearth_processes import run_hearth
from tests.service_processes import free_port


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_starts_the_stack_in_the_background_and_down_stops_it(tmp_path: Path, models_dir: Path) -> None:
    text_port, image_port, gateway_port = free_port(), free_port(), free_port()
    state_dir = tmp_path / "state"
    settings = {
        "HEARTH_STATE_DIR": str(state_dir),
        "HEARTH_MODELS_DIR": str(models_dir),
        "HEARTH_TEXT_PORT": str(text_port),
        "HEARTH_IMAGE_PORT": str(image_port),
        "HEARTH_GATEWAY_PORT": str(gateway_port),
        "HEARTH_GATEWAY_TEXT_TARGET": f"127.0.0.1:{text_port}",
        "HEARTH_GATEWAY_IMAGE_TARGET": f"127.0.0.1:{image_port}",
    }
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        up = run_hearth(["up", "--timeout", "400"], timeout=450, **settings)
        log = (state_dir / "stack.log").read_text(errors="replace")[-3000:]
        assert up.returncode == 0, up.stderr + log
        assert f"ready at {url}" in up.stderr
        pid = int((state_dir / "stack.pid").read_text())

        status = run_hearth(["status", "--url", url])
        second_up = run_hearth(["up"], **settings)
        down = run_hearth(["down"], **settings)
        second_down = run_hearth(["down"], **settings)
    finally:
        run_hearth(["down"], **settings)

    assert status.returncode == 0, status.stdout + status.stderr
    assert second_up.returncode == 1
    assert f"already running (pid {pid})" in second_up.stderr
    assert down.returncode == 0
    assert f"stopped (pid {pid})" in down.stderr
    assert not (state_dir / "stack.pid").exists()
    assert not any(_listening(port) for port in (text_port, image_port, gateway_port))
    assert "no stack was running" in second_down.stderr
