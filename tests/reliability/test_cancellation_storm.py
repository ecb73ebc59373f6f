"""Cancellation storm: 100 streams cancelled at random points (before the first token, after a few).

Afterwards the text service holds no active or queued request, has counted every stream cancelled after
its first token as finished (one cancelled sooner may never have reached the engine), keeps its memory at
the level it had before the storm (within noise) and still answers.
"""

import asyncio
import random
import time

import grpc
import psutil

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.reliability.conftest import LONG_PROMPT
from tests.service_processes import ServiceProcess

STREAMS = 100
AT_ONCE = 20
# Long enough that a stream the service failed to cancel would still be running when the test looks.
REQUEST = pb.GenerateStreamRequest(
    params=pb.TextParams(
        prompt=LONG_PROMPT,
        sampling=pb.SamplingParams(max_new_tokens=512, temperature=0),
    )
)
# Memory "within noise": allocator arenas and caches move by tens of MiB between runs on their own.
RSS_NOISE_BYTES = 96 * 2**20


async def _cancel_somewhere(stub: pb_grpc.TextGenerationServiceStub, rng: random.Random) -> int:
    """Starts a stream and cancels it at a random point: right away, or after a few tokens.

    Returns the tokens received before the cancel, or -1 when the service refused the stream at once.
    """
    call = stub.GenerateStream(REQUEST, timeout=120)
    cancel_after = rng.choice([0, 0, 1, 2, 3, 5])
    seen = 0
    try:
        if cancel_after == 0:
            await asyncio.sleep(rng.uniform(0, 0.05))
        else:
            async for message in call:
                seen += len(message.token_ids)
                if seen >= cancel_after:
                    break
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise
        return -1
    call.cancel()
    return seen


async def _settled(stub: pb_grpc.TextGenerationServiceStub) -> pb.EngineStats:
    """The engine's counts once nothing is active or queued (or after 10 s, whichever comes first)."""
    deadline = time.monotonic() + 10
    while True:
        stats = (await stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=10)).stats
        if (stats.active_requests == 0 and stats.queued_requests == 0) or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.1)


async def _storm(stub: pb_grpc.TextGenerationServiceStub, streams: int, rng: random.Random) -> list[int]:
    """Tokens seen by each stream before its cancel (-1: refused), in waves of AT_ONCE concurrent streams."""
    seen: list[int] = []
    for start in range(0, streams, AT_ONCE):
        seen += await asyncio.gather(*(_cancel_somewhere(stub, rng) for _ in range(min(AT_ONCE, streams - start))))
    return seen


async def test_a_hundred_cancelled_streams_leave_no_request_and_no_memory_behind(text_service: ServiceProcess) -> None:
    assert text_service.process is not None
    memory = psutil.Process(text_service.process.pid)
    rng = random.Random(20250613)
    async with grpc.aio.insecure_channel(text_service.target) as channel:
        stub = pb_grpc.TextGenerationServiceStub(channel)
        await _storm(stub, AT_ONCE, rng)  # first use of each batch shape grows caches: not a leak
        before = await _settled(stub)
        baseline = memory.memory_info().rss

        seen = await asyncio.wait_for(_storm(stub, STREAMS, rng), timeout=240)

        after = await _settled(stub)
        assert (after.active_requests, after.queued_requests) == (0, 0)
        mid_stream = sum(1 for tokens in seen if tokens > 0)
        assert mid_stream > STREAMS // 2, f"few streams were cancelled mid-stream: {seen}"
        assert after.finished_requests - before.finished_requests >= mid_stream
        assert memory.memory_info().rss - baseline < RSS_NOISE_BYTES

        short = pb.SamplingParams(max_new_tokens=4, temperature=0)
        reply = await stub.Generate(
            pb.GenerateRequest(params=pb.TextParams(prompt=LONG_PROMPT, sampling=short)), timeout=120
        )
        assert reply.usage.completion_tokens > 0
