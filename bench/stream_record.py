"""What a client saw of one generation: when it asked, when each piece of text arrived, when it ended.

Every system is measured from the client's side with the same clock (``time.perf_counter``), so the
numbers include whatever each system puts between the model and the caller.
"""

import time
from dataclasses import dataclass, field


@dataclass
class StreamRecord:
    """One request's timeline. `arrivals` holds (time, tokens in that delta) for each delta received."""

    started: float = field(default_factory=time.perf_counter)
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    finished: float | None = None
    completion_tokens: int = 0
    error: str | None = None

    def tokens_arrived(self, count: int) -> None:
        self.arrivals.append((time.perf_counter(), count))

    def finish(self, completion_tokens: int) -> None:
        self.finished = time.perf_counter()
        self.completion_tokens = completion_tokens

    def fail(self, error: str) -> None:
        self.finished = time.perf_counter()
        self.error = error

    @property
    def ok(self) -> bool:
        return self.error is None and self.finished is not None

    @property
    def duration(self) -> float:
        assert self.finished is not None
        return self.finished - self.started

    @property
    def time_to_first_token(self) -> float | None:
        return self.arrivals[0][0] - self.started if self.arrivals else None

    @property
    def tokens_per_second(self) -> float:
        """The rate the caller got: tokens over the whole request, first-token wait included."""
        return self.completion_tokens / self.duration

    def inter_token_latencies(self) -> list[float]:
        """Gap before each later delta, spread over the tokens it carried (one sample per token)."""
        samples = []
        for (before, _), (at, count) in zip(self.arrivals, self.arrivals[1:], strict=False):
            samples.extend([(at - before) / max(count, 1)] * max(count, 1))
        return samples
