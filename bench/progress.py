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
