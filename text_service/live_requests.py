"""The event-loop side of every engine: one record per request between submit and its Completion.

Engines differ in how they run the model; what they do with the tokens a step gave a request does not:
turn them into UTF-8-safe, stop-aware text deltas, decide how the request ended, time it, and hand the
servicer its events in order. ``LiveRequests`` does that once for all engines, so a request behaves the
same whichever engine serves it. Every method runs on the event loop.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tokenizers import Tokenizer

from serving_core.out_of_memory import is_out_of_memory
from serving_core.request_errors import InvalidField, OutOfDeviceMemory, QueueFull, RequestError, ShuttingDown
from text_service.engine import (
    Completion,
    EngineEvent,
    EngineRequest,
    FinishReason,
    TextBatching,
    TextDelta,
    TokenLogprob,
)
from text_service.text_stream import StopAwareDetokenizer

TicketT = TypeVar("TicketT")


@dataclass
class LiveRequest(Generic[TicketT]):
    """One request as the event loop sees it; ``ticket`` is whatever the engine uses to address it."""

    request: EngineRequest
    ticket: TicketT
    detokenizer: StopAwareDetokenizer
    events: asyncio.Queue[EngineEvent | RequestError] = field(default_factory=asyncio.Queue)
    token_ids: list[int] = field(default_factory=list)
    unsent_ids: list[int] = field(default_factory=list)
    unsent_logprobs: list[TokenLogprob] = field(default_factory=list)
    started_at: float | None = None
    first_token_at: float | None = None
    completion: Completion | None = None


class LiveRequests(Generic[TicketT]):
    """The requests in flight, bounded by the batch plus the queue, and the counters GetModelInfo reports."""

    def __init__(self, tokenizer: Tokenizer, eos_token_ids: set[int], batching: TextBatching) -> None:
        self._tokenizer = tokenizer
        self._eos = eos_token_ids
        self._batching = batching
        self._live: dict[str, LiveRequest[TicketT]] = {}
        self._by_ticket: dict[TicketT, LiveRequest[TicketT]] = {}
        self.finished = 0
        self.generated_tokens = 0
        self._closed = False

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[LiveRequest[TicketT]]:
        return iter(list(self._live.values()))

    def get(self, request_id: str) -> LiveRequest[TicketT] | None:
        return self._live.get(request_id)

    def get_by_ticket(self, ticket: TicketT) -> LiveRequest[TicketT] | None:
        """The request an engine's own id names (a client may reuse a request id once its request has ended)."""
        return self._by_ticket.get(ticket)

    def close(self) -> None:
        """The engine is stopping: every later request is refused with ShuttingDown."""
        self._closed = True

    def check_open(self) -> None:
        """Raises ShuttingDown once the engine is stopping; engines call it before any other check."""
        if self._closed:
            raise ShuttingDown("the text service is shutting down; another replica, or this one restarted, will serve")

    def admit(self, request: EngineRequest, ticket: TicketT) -> LiveRequest[TicketT]:
        """Records a new request, or refuses it: shutting down, a duplicate id, or no room in the batch and queue."""
        self.check_open()
        if request.request_id in self._live:
            raise InvalidField("request_id", f"{request.request_id!r} is already in flight; ids must be unique")
        capacity = self._batching.max_batch_size + self._batching.max_queue
        if len(self._live) >= capacity:
            raise QueueFull(
                f"queue full: {len(self._live)} requests in flight (max_batch_size {self._batching.max_batch_size}"
                f" + max_queue {self._batching.max_queue}); retry later"
            )
        live = LiveRequest(request, ticket, StopAwareDetokenizer(self._tokenizer, request.sampling.stop))
        self._live[request.request_id] = live
        self._by_ticket[ticket] = live
        return live

    def events(self, request_id: str) -> AsyncIterator[EngineEvent]:
        live = self._live.get(request_id)
        if live is None:
            raise LookupError(f"request {request_id!r} is not in flight")
        return self._relay(live)

    @staticmethod
    async def _relay(live: LiveRequest[TicketT]) -> AsyncIterator[EngineEvent]:
        while True:
            event = await live.events.get()
            if isinstance(event, RequestError):
                raise event
            yield event
            if isinstance(event, Completion):
                return

    def deliver(
        self,
        live: LiveRequest[TicketT],
        new_ids: list[int],
        finished: bool,
        started_at: float,
        logprobs: list[TokenLogprob] | None = None,
    ) -> bool:
        """Takes one step's new tokens; returns True when a stop string ended the request (the engine must stop it).

        ``started_at`` is when the engine first scheduled the request (a perf_counter stamp), for queue time;
        ``logprobs``, when the request asked for them, has one entry per new token.
        """
        if live.completion is not None:
            return False
        if new_ids and live.first_token_at is None:
            live.first_token_at = time.perf_counter()
            live.started_at = started_at
        live.token_ids.extend(new_ids)
        live.unsent_ids.extend(new_ids)
        live.unsent_logprobs.extend(logprobs or ())
        released = live.detokenizer.push(new_ids)
        text = released.text
        reason = None
        if released.stopped:
            reason = FinishReason.STOP_SEQUENCE
        elif finished:
            text += live.detokenizer.flush()
            ended_by_eos = bool(live.token_ids) and live.token_ids[-1] in self._eos
            reason = FinishReason.END_OF_SEQUENCE if ended_by_eos else FinishReason.LENGTH
        if text or (reason is not None and live.unsent_ids):
            live.events.put_nowait(TextDelta(text, live.unsent_ids, live.unsent_logprobs))
            live.unsent_ids, live.unsent_logprobs = [], []
        if reason is not None:
            live.events.put_nowait(self.complete(live, reason))
        return released.stopped

    def complete(self, live: LiveRequest[TicketT], reason: FinishReason) -> Completion:
        """Ends a request: its Completion (times from arrival), the counters, and it leaves the table."""
        now = time.perf_counter()
        arrival = live.request.arrival
        started = live.started_at if live.started_at is not None else now
        first = live.first_token_at if live.first_token_at is not None else now
        live.completion = Completion(
            finish_reason=reason,
            prompt_tokens=len(live.request.prompt_ids),
            completion_tokens=len(live.token_ids),
            queue_seconds=max(0.0, started - arrival),
            time_to_first_token_seconds=max(0.0, first - arrival),
            total_seconds=max(0.0, now - arrival),
        )
        self.finished += 1
        self.generated_tokens += len(live.token_ids)
        self._live.pop(live.request.request_id, None)
        self._by_ticket.pop(live.ticket, None)
        return live.completion

    def fail(self, live: LiveRequest[TicketT], error: RequestError) -> None:
        """Ends a request with an error its stream raises."""
        if live.completion is not None:
            return
        self.complete(live, FinishReason.CANCELLED)
        live.events.put_nowait(error)


def generation_error(message: str) -> RequestError:
    """An engine's failure as the request's error: out of memory is the request's size, anything else a bug."""
    if is_out_of_memory(message):
        return OutOfDeviceMemory(
            "out of device memory while generating; the request was dropped. Retry with a shorter prompt or "
            "fewer max_new_tokens, or have the operator lower HEARTH_TEXT_MAX_BATCH_SIZE"
        )
    return RequestError(f"generation failed: {message}")
