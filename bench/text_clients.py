"""One client per system under test, all with the same shape: `burst(prompt, n, streams, limit) -> records`.

Every request asks for greedy decoding of `max_new_tokens` tokens of a raw prompt (no chat template), so
the systems do the same work. Each client counts the tokens it receives itself (token ids in Hearth's
deltas, one chunk per token from `transformers serve`, generated ids from the OpenVINO handles) and keeps
the finish reason; `StreamRecord.check` then holds every answer to exactly the asked count.
"""

import asyncio
import json
import time
from abc import ABC, abstractmethod
from typing import Protocol

import grpc
import httpx
from httpx_sse import aconnect_sse

from bench.child_processes import OpenVinoChild
from bench.stream_record import LENGTH, StreamRecord
from hearth.text.v1 import text_service_pb2, text_service_pb2_grpc

REQUEST_TIMEOUT_SECONDS = 600.0

GRPC_FINISH_REASONS = {
    text_service_pb2.FINISH_REASON_LENGTH: LENGTH,
    text_service_pb2.FINISH_REASON_STOP_SEQUENCE: "stop",
    text_service_pb2.FINISH_REASON_END_OF_SEQUENCE: "eos",
    text_service_pb2.FINISH_REASON_CANCELLED: "cancelled",
}


class TextClient(Protocol):
    async def burst(self, prompt: str, max_new_tokens: int, streams: int, time_limit: float) -> list[StreamRecord]:
        """`streams` requests started together; one record each, unfinished ones failed at `time_limit`."""

    async def aclose(self) -> None: ...


class _PerStreamClient(ABC):
    """A burst of a network client: one task per stream, all started at once."""

    @abstractmethod
    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord: ...

    async def burst(self, prompt: str, max_new_tokens: int, streams: int, time_limit: float) -> list[StreamRecord]:
        started = time.perf_counter()
        tasks = [asyncio.create_task(self.stream(prompt, max_new_tokens)) for _ in range(streams)]
        done, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        records = [task.result() for task in done]
        for _ in pending:
            timed_out = StreamRecord(started=started)
            timed_out.fail(f"no answer within the {time_limit:.0f}s limit")
            records.append(timed_out)
        return records


class GrpcTextClient(_PerStreamClient):
    """Hearth's text service, `GenerateStream` over one shared grpc.aio channel."""

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = text_service_pb2_grpc.TextGenerationServiceStub(self._channel)

    async def engine_name(self) -> str:
        """The engine the service reports in GetModelInfo."""
        info = await self._stub.GetModelInfo(text_service_pb2.GetModelInfoRequest(), timeout=30)
        return info.engine.name

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        request = text_service_pb2.GenerateStreamRequest(
            params=text_service_pb2.TextParams(
                prompt=prompt, sampling=text_service_pb2.SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
            )
        )
        record = StreamRecord()
        try:
            async for message in self._stub.GenerateStream(request, timeout=REQUEST_TIMEOUT_SECONDS):
                if message.token_ids:
                    record.tokens_arrived(len(message.token_ids))
                if message.finish_reason != text_service_pb2.FINISH_REASON_UNSPECIFIED:
                    reason = GRPC_FINISH_REASONS.get(message.finish_reason, str(message.finish_reason))
                    record.finish(reason, message.usage.completion_tokens)
        except grpc.aio.AioRpcError as error:
            record.fail(f"{error.code().name}: {error.details()}")
        return record

    async def aclose(self) -> None:
        await self._channel.close()


class _SseClient(_PerStreamClient):
    """Shared by the HTTP clients: an httpx client with no pool limit below the bench's concurrency."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS, limits=httpx.Limits(max_connections=None)
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class GatewayTextClient(_SseClient):
    """Hearth's gateway, `POST /generate-text` with `"stream": true` (SSE `token` / `done` events)."""

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        body = {
            "prompt": prompt,
            "max_new_tokens": max_new_tokens,
            "do_sample": False,
            "include_prompt": False,
            "stream": True,
        }
        record = StreamRecord()
        try:
            async with aconnect_sse(self._http, "POST", "/generate-text", json=body) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    record.fail(f"HTTP {source.response.status_code}: {source.response.text[:200]}")
                    return record
                async for event in source.aiter_sse():
                    if event.event == "token":
                        token_ids = event.json()["token_ids"]
                        if token_ids:
                            record.tokens_arrived(len(token_ids))
                    elif event.event == "done":
                        done = event.json()
                        record.finish(done["finish_reason"], done["usage"]["completion_tokens"])
                    elif event.event == "error":
                        record.fail(event.data[:200])
        except httpx.HTTPError as error:
            record.fail(f"{type(error).__name__}: {error}")
        return record


class TransformersServeClient(_SseClient):
    """The peer, `transformers serve --continuous-batching`: OpenAI `/v1/completions` with `stream`.

    It sends one chunk per token that decodes to text (its streamer holds back only a token that ends inside
    a UTF-8 character, which this prompt's continuation does not produce), so the client counts chunks.
    """

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        body = {"prompt": prompt, "max_tokens": max_new_tokens, "temperature": 0, "stream": True}
        record = StreamRecord()
        try:
            async with aconnect_sse(self._http, "POST", "/v1/completions", json=body) as source:
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        break
                    chunk = json.loads(event.data)
                    if "error" in chunk:
                        record.fail(str(chunk["error"])[:200])
                        break
                    choice = chunk["choices"][0] if chunk.get("choices") else {}
                    if choice.get("text"):
                        record.tokens_arrived(1)
                    if choice.get("finish_reason"):
                        usage = chunk.get("usage") or {}
                        record.finish(choice["finish_reason"], usage.get("completion_tokens"))
        except httpx.HTTPError as error:
            record.fail(f"{type(error).__name__}: {error}")
        return record


class OpenVinoClient:
    """OpenVINO GenAI in-process in its child: a burst is one command, timed inside the child."""

    def __init__(self, child: OpenVinoChild) -> None:
        self._child = child

    async def burst(self, prompt: str, max_new_tokens: int, streams: int, time_limit: float) -> list[StreamRecord]:
        records = await asyncio.to_thread(self._child.burst, prompt, max_new_tokens, streams, time_limit)
        return [StreamRecord.from_json(record) for record in records]

    async def aclose(self) -> None:
        pass
