"""A figure over the rounds of a run: its median and spread (min-max) over the valid rounds, and how many
rounds were invalid (some answer had the wrong token count or finish reason) and left out."""

import statistics
from dataclasses import dataclass

from bench.load import LoadResult


@dataclass
class Spread:
    median: float | None
    low: float | None
    high: float | None
    valid_rounds: int
    invalid_rounds: int

    def describe(self, scale: float = 1.0, digits: int = 1) -> str:
        """`median (low-high)`, with the invalid rounds named; a dash when nothing valid was measured."""
        if self.median is None or self.low is None or self.high is None:
            text = "—"
        else:
            text = f"{self.median * scale:.{digits}f} ({self.low * scale:.{digits}f}-{self.high * scale:.{digits}f})"
        return text + (f", {self.invalid_rounds} invalid round(s)" if self.invalid_rounds else "")


def spread(results: list[LoadResult], metric: str) -> Spread:
    """The median of `metric` over the valid results (one per round), with min and max."""
    valid = [getattr(result, metric) for result in results if result.valid]
    values = [value for value in valid if value is not None]
    invalid = sum(not result.valid for result in results)
    if not values:
        return Spread(None, None, None, 0, invalid)
    return Spread(statistics.median(values), min(values), max(values), len(values), invalid)
