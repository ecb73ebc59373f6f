"""One streaming client per system under test, all with the same shape: `stream(prompt, n) -> StreamRecord`.

Every request asks for greedy decoding of `max_new_tokens` tokens of a raw prompt (no chat template), so
the systems do the same work.
"""

import asyncio
import json
import time
from typing import Protocol

import grpc
import httpx
import torch
from httpx_sse import aconnect_sse
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

from bench.stream_record import StreamRecord
from hearth.text.v1 import text_service_pb2, text_service_pb2_grpc

REQUEST_TIMEOUT_SECONDS = 600.0


class TextClient(Protocol):
    name: str

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord: ...

    async def aclose(self) -> None: ...


class _StepClock(BaseStreamer):
    """Stamps each decoding step of `generate`; the first `put` is the prompt, not a token."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self._saw_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if self._saw_prompt:
            self.steps.append(time.perf_counter())
        self._saw_prompt = True

    def end(self) -> None:
        pass


class InProcessClient:
    """(a) `model.generate` in this process, on a worker thread as the services run their models.

    Which thread matters on a busy CPU: torch's OpenMP team of the main thread is much slower here when
    other processes compete for the cores, so every in-process measurement runs off the main thread.
    """

    name = "in-process generate"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self._model = model
        self._tokenizer = tokenizer

    def generate(self, prompt: str, max_new_tokens: int, batch_size: int = 1) -> list[StreamRecord]:
        """A static batch of `batch_size` copies of the prompt: one record per row, all on the same steps."""
        inputs = self._tokenizer([prompt] * batch_size, return_tensors="pt")
        clock = _StepClock()
        started = time.perf_counter()
        with torch.inference_mode():
            output = self._model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self._tokenizer.eos_token_id,
                streamer=clock,
            )
        records = []
        for _ in range(batch_size):
            record = StreamRecord(started=started, arrivals=[(step, 1) for step in clock.steps])
            record.finish(output.shape[1] - inputs["input_ids"].shape[1])
            records.append(record)
        return records

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        (record,) = await asyncio.to_thread(self.generate, prompt, max_new_tokens)
        return record

    async def aclose(self) -> None:
        pass


class GrpcTextClient:
    """(b) Hearth's text service, `GenerateStream` over one shared grpc.aio channel."""

    name = "hearth gRPC"

    def __init__(self, target: str) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = text_service_pb2_grpc.TextGenerationServiceStub(self._channel)

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        request = text_service_pb2.GenerateStreamRequest(
            prompt=prompt, sampling=text_service_pb2.SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
        )
        record = StreamRecord()
        try:
            async for message in self._stub.GenerateStream(request, timeout=REQUEST_TIMEOUT_SECONDS):
                if message.token_ids:
                    record.tokens_arrived(len(message.token_ids))
                if message.finish_reason != text_service_pb2.FINISH_REASON_UNSPECIFIED:
                    record.finish(message.usage.completion_tokens)
        except grpc.aio.AioRpcError as error:
            record.fail(f"{error.code().name}: {error.details()}")
        if record.finished is None:
            record.fail("stream ended without a final message")
        return record

    async def aclose(self) -> None:
        await self._channel.close()


class _SseClient:
    """Shared by the HTTP clients: an httpx client with no pool limit below the bench's concurrency."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=REQUEST_TIMEOUT_SECONDS, limits=httpx.Limits(max_connections=None)
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class GatewayTextClient(_SseClient):
    """(c) Hearth's gateway, `POST /generate-text` with `"stream": true` (SSE `token` / `done` events).

    The route echoes the prompt first, as the original design returned it; only events that carry
    generated token ids count as arrivals.
    """

    name = "hearth gateway SSE"

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        body = {"prompt": prompt, "max_new_tokens": max_new_tokens, "do_sample": False, "stream": True}
        record = StreamRecord()
        try:
            async with aconnect_sse(self._http, "POST", "/generate-text", json=body) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    record.fail(f"HTTP {source.response.status_code}: {source.response.text[:200]}")
                    return record
                async for event in source.aiter_sse():
                    if event.event == "token" and event.json()["token_ids"]:
                        record.tokens_arrived(len(event.json()["token_ids"]))
                    elif event.event == "done":
                        record.finish(event.json()["usage"]["completion_tokens"])
                    elif event.event == "error":
                        record.fail(event.data[:200])
        except httpx.HTTPError as error:
            record.fail(f"{type(error).__name__}: {error}")
        if record.finished is None:
            record.fail("stream ended without a done event")
        return record


class NaiveBaselineClient(_SseClient):
    """(d) The original single-file design: one JSON answer when the whole text is done."""

    name = "naive baseline"

    async def stream(self, prompt: str, max_new_tokens: int) -> StreamRecord:
        body = {"prompt": prompt, "max_new_tokens": max_new_tokens, "do_sample": False}
        record = StreamRecord()
        try:
            response = await self._http.post("/generate-text", json=body)
            response.raise_for_status()
            tokens = response.json()["completion_tokens"]
            record.tokens_arrived(tokens)
            record.finish(tokens)
        except httpx.HTTPError as error:
            record.fail(f"{type(error).__name__}: {error}")
        return record


class TransformersServeClient(_SseClient):
    """(e) The peer, `transformers serve --continuous-batching`: OpenAI `/v1/completions` with `stream`."""

    name = "transformers serve"

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
                    if chunk["choices"] and chunk["choices"][0].get("text"):
                        record.tokens_arrived(1)
                    if chunk.get("usage"):
                        record.finish(chunk["usage"]["completion_tokens"])
        except httpx.HTTPError as error:
            record.fail(f"{type(error).__name__}: {error}")
        if record.finished is None:
            record.fail("stream ended without usage")
        return record
