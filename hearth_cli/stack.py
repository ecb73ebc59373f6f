"""Runs the whole local stack, text service, image service and gateway, as child processes.

This is what `make run` (and `hearth up`) start: each service in its own process on its default port,
pointed at the embedded default models unless the environment already names others. Ctrl-C or SIGTERM
is passed on as SIGTERM so every service drains its in-flight requests, and the launcher exits once all
of them have.
"""

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from default_models import image_model_path, text_model_path

SERVICES = ("text_service", "image_service", "http_gateway")
STOP_TIMEOUT_SECONDS = 60.0


def service_environment(models_dir: Path) -> dict[str, str]:
    """The environment of the children: the embedded models unless the operator set other ones."""
    env = dict(os.environ)
    env.setdefault("HEARTH_TEXT_MODEL", str(text_model_path(models_dir).resolve()))
    env.setdefault("HEARTH_IMAGE_MODEL", str(image_model_path(models_dir).resolve()))
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _forward_output(name: str, process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(f"{name:>13} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def start_services(models_dir: Path) -> dict[str, subprocess.Popen[bytes]]:
    """Starts every service that is installed; their output is prefixed with the service's name."""
    env = service_environment(models_dir)
    processes = {}
    for name in SERVICES:
        if importlib.util.find_spec(name) is None:
            continue
        process = subprocess.Popen(
            [sys.executable, "-m", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=_forward_output, args=(name, process), daemon=True).start()
        processes[name] = process
    return processes


def stop_services(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all, then waits; whatever has not drained after the timeout is killed."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Hearth's text service, image service and gateway.")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    processes = start_services(args.models_dir)
    print(f"hearth: started {', '.join(processes)}; Ctrl-C stops them", flush=True)
    while not stop.is_set() and all(p.poll() is None for p in processes.values()):
        stop.wait(0.5)
    stop_services(processes)
    failed = {name: p.returncode for name, p in processes.items() if p.returncode not in (0, -signal.SIGTERM)}
    if failed and not stop.is_set():
        sys.exit(f"hearth: a service exited unexpectedly: {failed}")


if __name__ == "__main__":
    main()
