"""Graceful shutdown: SIGTERM while 8 streams run.

All 8 streams finish with every token they asked for (received, not only reported in the usage), calls that
arrive after the signal are refused (UNAVAILABLE; or CANCELLED for one that reached the server just as it
stopped accepting), and the process exits with code 0.
"""

import asyncio
import signal

import grpc

from hearth.text.v1 import text_service_pb2 as pb
from hearth.text.v1 import text_service_pb2_grpc as pb_grpc
from tests.reliability.conftest import LONG_PROMPT, StartText

STREAMS = 8
TOKENS = 24
REQUEST = pb.GenerateStreamRequest(
    params=pb.TextParams(prompt=LONG_PROMPT, sampling=pb.SamplingParams(max_new_tokens=TOKENS, temperature=0))
)


async def _refused_after_signal(target: str) -> grpc.StatusCode | None:
    """Tries a new call every 100 ms for 10 s; the status of the first refusal (None if never refused)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TextGenerationServiceStub(channel)
        for _ in range(100):
            try:
                await stub.Tokenize(pb.TokenizeRequest(prompt="hello"), timeout=2)
            except grpc.aio.AioRpcError as error:
                return error.code()
            await asyncio.sleep(0.1)
    return None


async def test_sigterm_drains_in_flight_streams_refuses_new_calls_and_exits_zero(
    start_text_service: StartText,
) -> None:
    service = start_text_service()
    assert service.process is not None
    started = [asyncio.Event() for _ in range(STREAMS)]

    async with grpc.aio.insecure_channel(service.target) as channel:
        stub = pb_grpc.TextGenerationServiceStub(channel)

        async def consume(index: int) -> list[pb.GenerateStreamResponse]:
            messages = []
            async for message in stub.GenerateStream(REQUEST, timeout=180):
                messages.append(message)
                if message.token_ids:
                    started[index].set()
            return messages

        streams = [asyncio.create_task(consume(index)) for index in range(STREAMS)]
        await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), timeout=120)

        service.process.send_signal(signal.SIGTERM)
        refusal = await _refused_after_signal(service.target)
        assert refusal in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert not all(stream.done() for stream in streams), "the streams ended before the refusal: nothing drained"

        for messages in await asyncio.wait_for(asyncio.gather(*streams), timeout=180):
            assert messages[-1].finish_reason == pb.FINISH_REASON_LENGTH
            assert sum(len(message.token_ids) for message in messages) == TOKENS
            assert "".join(message.text for message in messages).strip()
            assert messages[-1].usage.completion_tokens == TOKENS

    assert service.process.wait(timeout=60) == 0
