"""What a client saw of one generation: when it asked, when each token arrived, how it ended.

Every system is measured from the client's side with the same clock (``time.perf_counter``, the system's
monotonic clock on Linux, so the in-process OpenVINO child's stamps compare with the bench's), and every
answer is checked by the client: a system's own usage report is not trusted alone.
"""

import time
from dataclasses import dataclass, field

LENGTH = "length"


@dataclass
class StreamRecord:
    """One request's timeline. `arrivals` holds (time, tokens in that delta) for each delta received."""

    started: float = field(default_factory=time.perf_counter)
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    finished: float | None = None
    finish_reason: str | None = None
    reported_tokens: int | None = None
    error: str | None = None

    def tokens_arrived(self, count: int) -> None:
        self.arrivals.append((time.perf_counter(), count))

    def finish(self, finish_reason: str, reported_tokens: int | None) -> None:
        self.finished = time.perf_counter()
        self.finish_reason = finish_reason
        self.reported_tokens = reported_tokens

    def fail(self, error: str) -> None:
        self.finished = time.perf_counter()
        self.error = error

    @property
    def received_tokens(self) -> int:
        """Tokens the client counted itself, delta by delta."""
        return sum(count for _, count in self.arrivals)

    def check(self, expected_tokens: int) -> None:
        """Turns a finished answer that is not exactly `expected_tokens` tokens ending on length into an error.

        A system that stops early (end of sequence), drops deltas or miscounts would otherwise look faster.
        """
        if self.error is not None:
            return
        if self.finished is None:
            self.error = "no final message"
        elif self.received_tokens != expected_tokens:
            self.error = f"received {self.received_tokens} tokens, asked {expected_tokens}"
        elif self.finish_reason != LENGTH:
            self.error = f"finish reason {self.finish_reason!r}, expected {LENGTH!r}"
        elif self.reported_tokens is not None and self.reported_tokens != expected_tokens:
            self.error = f"reported {self.reported_tokens} completion tokens, received {expected_tokens}"

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
        return self.received_tokens / self.duration

    def inter_token_latencies(self) -> list[float]:
        """Gap before each later delta, spread over the tokens it carried (one sample per token)."""
        samples = []
        for (before, _), (at, count) in zip(self.arrivals, self.arrivals[1:], strict=False):
            samples.extend([(at - before) / max(count, 1)] * max(count, 1))
        return samples

    def to_json(self) -> dict:
        return {
            "started": self.started,
            "arrivals": self.arrivals,
            "finished": self.finished,
            "finish_reason": self.finish_reason,
            "reported_tokens": self.reported_tokens,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: dict) -> "StreamRecord":
        return cls(**{**data, "arrivals": [tuple(arrival) for arrival in data["arrivals"]]})
