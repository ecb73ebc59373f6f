"""The engine interface: what the servicer needs from whatever generates tokens.

The servicer submits an EngineRequest, reads its events (text deltas, then one Completion), cancels it
when the client goes away, and reads stats for GetModelInfo. Nothing here knows about gRPC or about a
particular batching library, so another engine (llama.cpp, a static batcher) can sit behind the same
servicer. Every method is called on the event loop; model work happens elsewhere.
"""

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from text_service.guided import Guide


@dataclass(frozen=True)
class SamplingOptions:
    """How one request chooses tokens, already validated and with defaults filled in."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        """Temperature 0 means greedy decoding, as in OpenAI's API."""
        return self.temperature == 0.0


@dataclass(frozen=True)
class EngineRequest:
    """One generation: the prompt's token ids and how to sample. ``arrival`` is a time.perf_counter() stamp.

    ``guide`` constrains the output (None: free text); ``top_logprobs`` asks for every token's logprob and
    that many alternatives (None: no logprobs at all).
    """

    request_id: str
    prompt_ids: list[int]
    sampling: SamplingOptions
    arrival: float
    guide: Guide | None = None
    top_logprobs: int | None = None


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine honours beyond plain generation; validation refuses the rest with UnsupportedField."""

    guided_kinds: tuple[str, ...]
    logprobs: bool
    max_top_logprobs: int


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token's log-probability and the most likely (token id, logprob) pairs, most likely first."""

    logprob: float
    top: tuple[tuple[int, float], ...] = ()


class FinishReason(enum.Enum):
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"
    END_OF_SEQUENCE = "end_of_sequence"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TextDelta:
    """New text since the previous delta (never half a character, never part of a stop string) and its tokens.

    ``logprobs`` has one entry per token when the request asked for them, else none.
    """

    text: str
    token_ids: list[int]
    logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(frozen=True)
class Completion:
    """How a request ended; the last event of every stream. Times are seconds from arrival."""

    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    queue_seconds: float
    time_to_first_token_seconds: float
    total_seconds: float


EngineEvent = TextDelta | Completion


@dataclass(frozen=True)
class TextBatching:
    """How many requests share a forward pass, how many may wait, and how big the KV cache is (every engine)."""

    max_batch_size: int
    max_queue: int
    max_batch_tokens: int
    kv_cache_tokens: int


@dataclass
class DecodeSteps:
    """Decode steps and their batch sizes; written on the generation thread, read on the event loop."""

    decode_steps: int = 0
    last_batch_size: int = 0
    peak_batch_size: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, batch_size: int) -> None:
        with self._lock:
            self.decode_steps += 1
            self.last_batch_size = batch_size
            self.peak_batch_size = max(self.peak_batch_size, batch_size)


@dataclass(frozen=True)
class EngineDescription:
    """Fixed settings of the engine, for GetModelInfo."""

    name: str
    max_batch_size: int
    attention: str


@dataclass(frozen=True)
class EngineStats:
    """Live counts, for GetModelInfo (and tests that prove requests were batched and cancelled)."""

    active_requests: int
    queued_requests: int
    finished_requests: int
    generated_tokens: int
    peak_batch_size: int
    last_batch_size: int
    decode_steps: int
    kv_cache_usage: float = 0.0


class TextEngine(ABC):
    """Generates tokens for many requests at once."""

    description: EngineDescription
    capabilities: EngineCapabilities

    @abstractmethod
    def start(self) -> None:
        """Starts generating (its own threads); called once, on the event loop."""

    @abstractmethod
    def submit(self, request: EngineRequest) -> None:
        """Accepts a request; raises QueueFull when too many wait and NotReady when the engine cannot take it."""

    @abstractmethod
    def stream(self, request_id: str) -> AsyncIterator[EngineEvent]:
        """The request's events: TextDelta messages, then one Completion. Raises RequestError on failure."""

    @abstractmethod
    def cancel(self, request_id: str) -> Completion | None:
        """Stops a request and frees its batch slot; returns its record, or None if it had already ended."""

    @abstractmethod
    def stats(self) -> EngineStats:
        """Counts read now."""

    @abstractmethod
    async def close(self) -> None:
        """Stops generating; in-flight requests should have been drained before."""
