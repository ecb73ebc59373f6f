"""`hearth up` and `hearth down`: the launcher of `make run`, started in the background and stopped later.

The launcher (`python -m hearth_cli.stack`) already forwards SIGTERM to every service and waits for
them to drain; this module only detaches it, records its pid in a state folder, waits for the
gateway's readiness, and signals it again on `down`.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from hearth_cli.errors import EXIT_FAILED, EXIT_UNAVAILABLE, HearthError

LAUNCHER_MODULE = "hearth_cli.stack"
POLL_SECONDS = 0.5


def default_state_dir() -> Path:
    """Where the pid and log files live: $HEARTH_STATE_DIR, else the XDG state folder."""
    if os.environ.get("HEARTH_STATE_DIR"):
        return Path(os.environ["HEARTH_STATE_DIR"])
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "hearth"


def gateway_url_from_environment() -> str:
    """The URL the launched gateway will listen on, from the same settings the gateway reads."""
    host = os.environ.get("HEARTH_GATEWAY_HOST", "127.0.0.1")
    port = os.environ.get("HEARTH_GATEWAY_PORT", "8000")
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"


@dataclass(frozen=True)
class StackFiles:
    """The pid file and log of the one background stack a state folder tracks."""

    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "stack.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "stack.log"

    def running_pid(self) -> int | None:
        """The launcher's pid if it still runs; a stale pid file (crash, reboot) counts as not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if is_launcher(pid) else None


def _process_state(pid: int) -> str | None:
    """The one-letter state from /proc, or None when no such process exists (or it is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return None if state in ("Z", "X") else state


def is_launcher(pid: int) -> bool:
    """Whether pid is alive and is Hearth's launcher, not another program that reused the pid."""
    if _process_state(pid) is None:
        return False
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except FileNotFoundError:
        return False
    return LAUNCHER_MODULE.encode() in command_line


def launcher_command(models_dir: Path) -> list[str]:
    return [sys.executable, "-m", LAUNCHER_MODULE, "--models-dir", str(models_dir.resolve())]


def run_in_foreground(models_dir: Path) -> None:
    """Becomes the launcher, exactly what `make run` runs; never returns."""
    command = launcher_command(models_dir)
    os.execv(command[0], command)


def start_stack(files: StackFiles, models_dir: Path) -> subprocess.Popen[bytes]:
    """Starts the launcher in its own session (so a later Ctrl-C in this terminal leaves it alone)."""
    pid = files.running_pid()
    if pid is not None:
        raise HearthError(f"the stack is already running (pid {pid}); `hearth down` stops it", EXIT_FAILED)
    files.state_dir.mkdir(parents=True, exist_ok=True)
    with files.log_file.open("ab") as log:
        process = subprocess.Popen(
            launcher_command(models_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    files.pid_file.write_text(f"{process.pid}\n")
    return process


def wait_until_ready(process: subprocess.Popen[bytes], files: StackFiles, url: str, timeout: float) -> None:
    """Polls the gateway's /health/ready until it answers 200; fails early if the launcher exits."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                files.pid_file.unlink(missing_ok=True)
                raise HearthError(
                    f"the stack exited with code {process.returncode} while starting; see {files.log_file}",
                    EXIT_UNAVAILABLE,
                )
            try:
                if client.get("/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(POLL_SECONDS)
    raise HearthError(
        f"the stack was not ready after {timeout:.0f} s (still starting, pid {process.pid}); see {files.log_file}",
        EXIT_UNAVAILABLE,
    )


def stop_stack(files: StackFiles, timeout: float) -> int | None:
    """SIGTERM to the launcher, which drains the services; SIGKILL to its whole group after the timeout.

    Returns the pid that was stopped, or None when no stack was running.
    """
    pid = files.running_pid()
    files.pid_file.unlink(missing_ok=True)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _process_state(pid) is None:
            return pid
        time.sleep(POLL_SECONDS)
    os.killpg(pid, signal.SIGKILL)
    return pid
