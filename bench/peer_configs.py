"""The configurations a peer is screened in, and the exact environment each system's processes get.

A peer is compared in its best configuration, chosen in the same run, among its defaults and the choices
Hearth makes for itself: threads = cores and cores - 1, `OMP_WAIT_POLICY` unset and PASSIVE. The bench's own
environment never leaks threading settings into a child: every child starts from the bench's environment
with the threading variables removed, plus exactly the configuration being measured (Hearth: none, it
chooses for itself).
"""

import os
import subprocess
import sys
from dataclasses import dataclass

THREADING_VARIABLES = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)


@dataclass(frozen=True)
class PeerConfig:
    """Threads (None: the peer's own choice) and OMP_WAIT_POLICY (None: unset)."""

    threads: int | None = None
    omp_wait_policy: str | None = None

    @property
    def label(self) -> str:
        if self.threads is None and self.omp_wait_policy is None:
            return "defaults"
        parts = [f"threads={self.threads}" if self.threads is not None else "own threads"]
        parts.append(f"OMP_WAIT_POLICY={self.omp_wait_policy}" if self.omp_wait_policy else "OMP_WAIT_POLICY unset")
        return ", ".join(parts)


DEFAULTS = PeerConfig()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    return len(os.sched_getaffinity(0))


def candidate_configs(cores: int, own_threads: int | None = None) -> list[PeerConfig]:
    """Defaults, then threads in (own choice, cores, cores - 1) crossed with the wait policy unset and PASSIVE.

    A thread count equal to `own_threads` (what the peer picks by itself, where known) is the defaults
    again, so it is not screened twice.
    """
    explicit = [threads for threads in dict.fromkeys([cores, max(cores - 1, 1)]) if threads != own_threads]
    return [PeerConfig(threads, policy) for threads in [None, *explicit] for policy in (None, "PASSIVE")]


def torch_own_threads() -> int:
    """The intra-op threads torch picks by itself in a child's environment (asked of a fresh interpreter)."""
    command = [sys.executable, "-c", "import torch; print(torch.get_num_threads())"]
    return int(subprocess.run(command, env=child_environment(), capture_output=True, text=True, check=True).stdout)


def child_environment(torch_threads: int | None = None, omp_wait_policy: str | None = None) -> dict[str, str]:
    """The bench's environment without threading variables, offline, plus the given settings.

    `torch_threads` goes into OMP_NUM_THREADS, which torch reads when it starts (the peers here offer no
    flag for it); OpenVINO takes its thread count as a compile property instead (see openvino_child).
    """
    env = {key: value for key, value in os.environ.items() if key not in THREADING_VARIABLES}
    env["HF_HUB_OFFLINE"] = "1"
    if torch_threads is not None:
        env["OMP_NUM_THREADS"] = str(torch_threads)
    if omp_wait_policy is not None:
        env["OMP_WAIT_POLICY"] = omp_wait_policy
    return env
