"""Progress lines with the time since the bench started, so a long run shows where it is."""

import time

from rich.console import Console


class Progress:
    def __init__(self) -> None:
        self.console = Console(highlight=False)
        if not self.console.is_terminal:
            self.console.width = 160
        self._started = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._started

    def say(self, message: str) -> None:
        self.console.print(f"[{self.elapsed:6.0f}s] {message}", markup=False)


class Budget:
    """The part of the run a suite may use, on the progress clock: scenarios due after it are skipped,
    so `python -m bench all` ends in time even on a machine much busier than the one it was planned on."""

    def __init__(self, progress: Progress, ends_at: float) -> None:
        self._progress = progress
        self.ends_at = ends_at

    @property
    def left(self) -> float:
        return self.ends_at - self._progress.elapsed

    def round_limit(self, planned: float) -> float:
        """A round's time limit: the planned one, cut to what is left (but never below half a minute)."""
        return max(30.0, min(planned, self.left))
