"""Several choices of one request (``n`` > 1, or a list of prompts) as concurrent backend calls.

The text service batches concurrent requests, so n choices cost about as much wall time as one. Streams
are merged in arrival order; when one fails, or the reader stops, every other call is cancelled too.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

from hearth.text.v1 import text_service_pb2 as text_pb2
from http_gateway.backend_calls import OpenedStream, TextCalls
from http_gateway.openai_api.protocol import SamplingFields
from http_gateway.text_contract import Usage, sampling_params

Result = TypeVar("Result")

_OPENAI_FINISH_REASONS = {
    text_pb2.FINISH_REASON_LENGTH: "length",
    text_pb2.FINISH_REASON_STOP_SEQUENCE: "stop",
    text_pb2.FINISH_REASON_END_OF_SEQUENCE: "stop",
    text_pb2.FINISH_REASON_CANCELLED: "abort",
    text_pb2.FINISH_REASON_TOOL_CALLS: "tool_calls",
}


def openai_finish_reason(reason: int) -> str | None:
    """OpenAI's names: a stop string and the end-of-sequence token are both ``stop``."""
    return _OPENAI_FINISH_REASONS.get(reason)


def choice_seed(seed: int | None, choice: int) -> int | None:
    """Choice i draws with seed + i (folded onto uint64), so choices differ yet stay reproducible."""
    return None if seed is None else (seed + choice) % 2**64


def openai_sampling(body: SamplingFields, max_tokens: int | None, choice: int) -> text_pb2.SamplingParams:
    """The contract's sampling for choice ``choice``; an unset temperature is OpenAI's default, 1."""
    return sampling_params(
        max_new_tokens=max_tokens,
        temperature=1.0 if body.temperature is None else body.temperature,
        top_p=body.top_p,
        top_k=body.top_k,
        repetition_penalty=body.repetition_penalty,
        seed=choice_seed(body.seed, choice),
        stop=[body.stop] if isinstance(body.stop, str) else body.stop or [],
    )


def total_usage(usages: Sequence[text_pb2.Usage], choices_per_prompt: int) -> Usage:
    """Completion tokens of every choice, prompt tokens once per prompt (as OpenAI counts them)."""
    prompt = sum(usage.prompt_tokens for index, usage in enumerate(usages) if index % choices_per_prompt == 0)
    completion = sum(usage.completion_tokens for usage in usages)
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


async def _all(awaitables: Sequence[Awaitable[Result]]) -> list[Result]:
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


async def generate_choices(calls: TextCalls, choices: Sequence[text_pb2.TextParams]) -> list[Any]:
    """Every choice's unary reply, in order; the first failure cancels the rest."""
    return await _all([calls.generate(params) for params in choices])


async def open_choices(
    calls: TextCalls, choices: Sequence[text_pb2.TextParams]
) -> list[OpenedStream[text_pb2.GenerateStreamResponse]]:
    """Opens every choice's stream; if one is refused, those already open are cancelled."""
    tasks = [asyncio.ensure_future(calls.stream(params)) for params in choices]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().cancel()
            task.cancel()
        raise


async def merged(
    streams: Sequence[OpenedStream[text_pb2.GenerateStreamResponse]],
) -> AsyncIterator[tuple[int, text_pb2.GenerateStreamResponse]]:
    """(choice index, message) from every stream as they arrive; any failure ends the whole merge."""
    queue: asyncio.Queue[tuple[int, Any, BaseException | None]] = asyncio.Queue()
    finished = object()

    async def pump(index: int, stream: OpenedStream[text_pb2.GenerateStreamResponse]) -> None:
        try:
            async for message in stream.messages():
                await queue.put((index, message, None))
            await queue.put((index, finished, None))
        except Exception as error:
            await queue.put((index, None, error))

    pumps = [asyncio.ensure_future(pump(index, stream)) for index, stream in enumerate(streams)]
    try:
        remaining = len(pumps)
        while remaining:
            index, message, error = await queue.get()
            if error is not None:
                raise error
            if message is finished:
                remaining -= 1
                continue
            yield index, message
    finally:
        for task in pumps:
            task.cancel()
        for stream in streams:
            stream.cancel()
