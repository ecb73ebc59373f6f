"""Whether the machine was quiet enough for a verdict: what runs on it that is not the bench.

The kernel's load average counts the bench's own systems too (a server that just loaded its model keeps it
above 1 for a minute), so it is recorded before each measurement but cannot by itself say whether someone
else was busy. A thread samples every second, from /proc through psutil, the processes outside the bench's
own tree: any of them above `busy_percent` of one core, and a load average of their own (the same
one-minute exponential average the kernel keeps, over their runnable threads). A measurement is judged by
the outside load average when it starts and every outside process seen busy while it ran.
"""

import contextlib
import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

SAMPLE_SECONDS = 1.0
LOAD_AVERAGE_SECONDS = 60.0


@dataclass
class BusyProcess:
    pid: int
    name: str
    cpu_percent: float


@dataclass
class Sample:
    started: float
    ended: float
    busy: list[BusyProcess]


@dataclass
class Conditions:
    """The machine as a measurement found it (recorded with every measurement)."""

    load_average_1m: float
    outside_load_average_1m: float
    bench_processes: list[str] = field(default_factory=list)
    busy_processes: list[BusyProcess] = field(default_factory=list)

    def busy_reason(self, cores: int, load_share: float) -> str | None:
        """Why this measurement gets no verdict, or None when the machine was quiet enough."""
        reasons = []
        if self.outside_load_average_1m > cores * load_share:
            limit = cores * load_share
            reasons.append(f"load average of other processes {self.outside_load_average_1m:.2f} > {limit:.2f}")
        peaks: dict[tuple[str, int], float] = {}
        for process in self.busy_processes:
            key = (process.name, process.pid)
            peaks[key] = max(peaks.get(key, 0.0), process.cpu_percent)
        reasons += [f"{name} (pid {pid}) up to {peak:.0f}% CPU" for (name, pid), peak in peaks.items()]
        return "; ".join(reasons) or None


def _runnable_threads(pid: int) -> int:
    """Threads of `pid` running or waiting for a core (R) or in uninterruptible sleep (D), as the kernel counts."""
    count = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            stat = Path(task.path, "stat").read_text()
            if stat[stat.rindex(")") + 2] in "RD":
                count += 1
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return count


class MachineWatch:
    """Context manager: samples the machine on its own thread until the block exits."""

    def __init__(self, busy_percent: float = 20.0) -> None:
        self._busy_percent = busy_percent
        self._me = psutil.Process()
        self._cpu_seconds: dict[int, float] = {}
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._outside_load = os.getloadavg()[0]
        self._last_sample = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-watch", daemon=True)

    def bench_pids(self) -> set[int]:
        return {self._me.pid} | {child.pid for child in self._me.children(recursive=True)}

    def bench_processes(self) -> list[str]:
        """The bench's child processes alive now, as `name (pid)`: the proof that a system runs alone."""
        names = []
        for child in self._me.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                names.append(f"{' '.join(child.cmdline()[1:4]) or child.name()} (pid {child.pid})")
        return names

    def _sample(self) -> None:
        ours = self.bench_pids()
        started, ended = self._last_sample, time.perf_counter()
        elapsed = max(ended - started, 1e-3)
        busy, runnable, seen = [], 0, {}
        for process in psutil.process_iter(["pid", "name", "cpu_times"]):
            info = process.info
            if info["pid"] in ours or info["cpu_times"] is None:
                continue
            cpu = info["cpu_times"].user + info["cpu_times"].system
            seen[info["pid"]] = cpu
            used = cpu - self._cpu_seconds.get(info["pid"], cpu)
            if used > 0:
                runnable += _runnable_threads(info["pid"])
            if used / elapsed * 100 > self._busy_percent:
                busy.append(BusyProcess(info["pid"], info["name"], round(used / elapsed * 100)))
        decay = math.exp(-elapsed / LOAD_AVERAGE_SECONDS)
        with self._lock:
            if self._cpu_seconds:
                self._outside_load = self._outside_load * decay + runnable * (1 - decay)
                self._samples.append(Sample(started, ended, busy))
            self._cpu_seconds = seen
            self._last_sample = ended

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def begin(self) -> Conditions:
        """The load averages as a measurement starts, and the bench's own processes running then."""
        with self._lock:
            outside = self._outside_load
        return Conditions(os.getloadavg()[0], outside, bench_processes=self.bench_processes())

    def busy_between(self, started: float, ended: float) -> list[BusyProcess]:
        """Outside processes seen busy in any sample overlapping [started, ended] (perf_counter times).

        Asked once the run is over, so the sample that covers a measurement's last second is in.
        """
        with self._lock:
            samples = [s for s in self._samples if s.ended >= started and s.started <= ended]
        return [process for sample in samples for process in sample.busy]

    def __enter__(self) -> "MachineWatch":
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
