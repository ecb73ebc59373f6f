"""Which queued requests share a pipeline call, in what order, and when the queue refuses more."""

import threading
from dataclasses import dataclass

import pytest

from image_service.batching import BatchQueue
from serving_core.request_errors import QueueFull


@dataclass(eq=False)
class Request:
    name: str
    batch_key: str = "512x512/50/euler/7.5"
    num_images: int = 1
    arrived: float = 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def queue(clock: Clock, *, max_queue: int = 10, max_batch_images: int = 4, wait: float = 0.0) -> BatchQueue:
    return BatchQueue(max_queue=max_queue, max_batch_images=max_batch_images, wait_seconds=wait, clock=clock)


def names(batch: list[Request] | None) -> list[str]:
    assert batch is not None
    return [request.name for request in batch]


def test_compatible_requests_join_the_oldest_and_incompatible_ones_keep_their_place() -> None:
    clock = Clock()
    pending = queue(clock)
    for request in (Request("a"), Request("b", batch_key="64x64"), Request("c"), Request("d", batch_key="64x64")):
        pending.put(request)

    assert names(pending.take_batch()) == ["a", "c"]
    assert names(pending.take_batch()) == ["b", "d"]
    assert len(pending) == 0


def test_a_batch_holds_at_most_max_batch_images_images() -> None:
    clock = Clock()
    pending = queue(clock, max_batch_images=4)
    for request in (Request("a", num_images=2), Request("b", num_images=3), Request("c", num_images=2)):
        pending.put(request)

    assert names(pending.take_batch()) == ["a", "c"]
    assert names(pending.take_batch()) == ["b"]


def test_a_request_larger_than_a_batch_still_runs_alone() -> None:
    pending = queue(Clock(), max_batch_images=2)
    pending.put(Request("big", num_images=5))
    pending.put(Request("small"))

    assert names(pending.take_batch()) == ["big"]
    assert names(pending.take_batch()) == ["small"]


def test_the_queue_refuses_beyond_max_queue_waiting_requests() -> None:
    pending = queue(Clock(), max_queue=2)
    pending.put(Request("a"))
    pending.put(Request("b"))

    with pytest.raises(QueueFull, match="max_queue"):
        pending.put(Request("c"))
    assert names(pending.take_batch()) == ["a", "b"]
    pending.put(Request("c"))
    assert len(pending) == 1


def test_a_discarded_request_never_runs() -> None:
    pending = queue(Clock())
    first, second = Request("a"), Request("b", batch_key="other")
    pending.put(first)
    pending.put(second)

    assert pending.discard(first) is True
    assert pending.discard(first) is False
    assert names(pending.take_batch()) == ["b"]


def test_the_head_waits_for_companions_until_its_window_closes() -> None:
    clock = Clock()
    pending = queue(clock, wait=0.05)
    pending.put(Request("a", arrived=0.0))
    result: list[list[Request] | None] = []
    consumer = threading.Thread(target=lambda: result.append(pending.take_batch()))
    consumer.start()

    consumer.join(0.2)
    assert consumer.is_alive(), "the head left before its wait window closed"
    pending.put(Request("b", arrived=0.01))
    clock.now = 0.06
    pending.put(Request("late", batch_key="other", arrived=0.06))  # wakes the consumer; the window is over
    consumer.join(5)

    assert names(result[0]) == ["a", "b"]


def test_a_full_batch_leaves_without_waiting() -> None:
    pending = queue(Clock(), max_batch_images=2, wait=3600)
    pending.put(Request("a"))
    pending.put(Request("b"))

    assert names(pending.take_batch()) == ["a", "b"]


def test_close_wakes_a_waiting_consumer() -> None:
    pending = queue(Clock())
    result: list[object] = []
    consumer = threading.Thread(target=lambda: result.append(pending.take_batch()))
    consumer.start()

    pending.close()
    consumer.join(5)

    assert result == [None]
