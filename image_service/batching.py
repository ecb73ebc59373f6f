"""The bounded queue of accepted requests, and which of them run together in one pipeline call.

Requests run in arrival order. The oldest waiting request heads the next call and takes along every later
request with the same batch key (size, steps, scheduler, guidance) while the call holds at most
``max_batch_images`` images; it waits up to ``wait_seconds`` after its own arrival for such companions,
and not at all when it has already waited that long behind a running call. Incompatible requests keep
their place for a later call.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from serving_core.request_errors import QueueFull


class Batchable(Protocol):
    """What the queue needs to know about a request."""

    @property
    def batch_key(self) -> Hashable: ...

    @property
    def num_images(self) -> int: ...

    @property
    def arrived(self) -> float: ...


Item = TypeVar("Item", bound=Batchable)


class BatchQueue(Generic[Item]):
    """A thread-safe FIFO that hands out compatible batches; ``put`` refuses beyond ``max_queue`` waiting."""

    def __init__(
        self,
        *,
        max_queue: int,
        max_batch_images: int,
        wait_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_queue = max_queue
        self._max_batch_images = max_batch_images
        self._wait_seconds = wait_seconds
        self._clock = clock
        self._pending: list[Item] = []
        self._changed = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        with self._changed:
            return len(self._pending)

    def put(self, item: Item) -> None:
        """Queues a request, or raises QueueFull when ``max_queue`` requests already wait."""
        with self._changed:
            if len(self._pending) >= self._max_queue:
                raise QueueFull(f"queue full: {self._max_queue} requests are waiting (max_queue); retry later")
            self._pending.append(item)
            self._changed.notify_all()

    def discard(self, item: Item) -> bool:
        """Takes a request out of the queue; False when it is not waiting (already running or done)."""
        with self._changed:
            if item not in self._pending:
                return False
            self._pending.remove(item)
            self._changed.notify_all()
            return True

    def close(self) -> None:
        """Wakes the consumer; ``take_batch`` returns None from now on."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def take_batch(self) -> list[Item] | None:
        """Blocks until a batch is due and returns it (oldest first), or None once closed."""
        with self._changed:
            while not self._closed:
                if not self._pending:
                    self._changed.wait()
                    continue
                head = self._pending[0]
                batch = self._companions(head)
                wait_left = head.arrived + self._wait_seconds - self._clock()
                if sum(item.num_images for item in batch) >= self._max_batch_images or wait_left <= 0:
                    for item in batch:
                        self._pending.remove(item)
                    return batch
                self._changed.wait(wait_left)
            return None

    def _companions(self, head: Item) -> list[Item]:
        batch = [head]
        images = head.num_images
        for item in self._pending[1:]:
            if item.batch_key == head.batch_key and images + item.num_images <= self._max_batch_images:
                batch.append(item)
                images += item.num_images
        return batch
