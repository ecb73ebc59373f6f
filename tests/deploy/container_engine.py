"""The container engine the container test drives: a Docker engine where one answers, else rootful podman.

Machines like CI's have no Docker engine (the ``docker`` CLI may be there, talking to nothing), so the project's
set-up installs Debian's podman, runc and mmdebstrap (``make container-tools``) and the test drives podman
directly. Both engines take the same ``build``/``run``/``exec``/``inspect`` commands; the differences live here.
"""

import resource
import shutil
import subprocess
from dataclasses import dataclass

# podman asks runc for 1048576 open files and 4194304 processes per container, more than a process on these
# machines may raise its hard limit to, and runc then fails with "error setting rlimits". Limits the host
# already grants are passed instead; a few thousand processes is plenty for one service (and for pip).
MAX_PROCESSES = 8192


@dataclass(frozen=True)
class Engine:
    """One container engine, as the commands that reach it."""

    name: str

    @property
    def is_podman(self) -> bool:
        return self.name == "podman"

    def command(self, *args: str) -> list[str]:
        """The engine's command line for ``args`` (podman is told to use runc: crun fails on these machines)."""
        if self.is_podman:
            return ["podman", "--runtime", "runc", *args]
        return ["docker", *args]

    def limits(self) -> list[str]:
        """``--ulimit`` options for ``build`` and ``run`` that stay within what this machine grants."""
        if not self.is_podman:
            return []
        files_soft, files_hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        _, processes_hard = resource.getrlimit(resource.RLIMIT_NPROC)
        processes = MAX_PROCESSES if processes_hard == resource.RLIM_INFINITY else min(processes_hard, MAX_PROCESSES)
        return ["--ulimit", f"nofile={files_soft}:{files_hard}", "--ulimit", f"nproc={processes}:{processes}"]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Runs one engine command to its end and returns what it printed (the caller checks the status)."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout, check=False)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return info.returncode == 0


def find_engine() -> tuple[Engine | None, str]:
    """The engine to use, or None with the reason no image can be built here."""
    if _docker_answers():
        return Engine("docker"), "a Docker engine answers"
    missing = [tool for tool in ("podman", "runc", "mmdebstrap") if shutil.which(tool) is None]
    if not missing:
        return Engine("podman"), "no Docker engine; rootful podman with runc"
    return None, (
        f"no Docker engine answers and {', '.join(missing)} is not installed: run `make container-tools` "
        "(as root; it installs Debian's podman, runc and mmdebstrap) to build and run the images here"
    )
