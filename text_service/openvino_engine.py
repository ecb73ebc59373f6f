"""The CPU engine: OpenVINO GenAI's ContinuousBatchingPipeline, driven like the transformers engine's manager.

The pipeline runs in a worker process (``openvino_worker`` says why); this side holds the requests as the
event loop sees them. Prompts are token ids from Hearth's own tokenizer and chat template, so both engines
see the same prompt. A reader thread receives one message per forward pass from the worker and hands the
whole step to the event loop in one ``call_soon_threadsafe``; text deltas, stop strings, finish reasons
and timings are the shared ``LiveRequests``' job, so a request behaves the same on both engines.

Each request samples from its own random engine seeded with its seed (openvino-genai keeps one per
request since 2026.2), and with the KV cache in f32 a request's logits do not depend on what else shares
its batch, so a seeded request gives the same tokens alone or batched (docs/architecture.md). If the
worker dies, the requests in it fail with an error naming the exit code and a fresh worker takes over.
"""

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import threading
from collections.abc import AsyncIterator
from multiprocessing.process import BaseProcess

from tokenizers import Tokenizer

from serving_core.model_service import ModelLoadError
from serving_core.request_errors import NotReady, RequestError
from serving_core.structured_logging import log_fields
from text_service.engine import (
    Completion,
    DecodeSteps,
    EngineCapabilities,
    EngineDescription,
    EngineEvent,
    EngineRequest,
    EngineStats,
    FinishReason,
    TextBatching,
    TextEngine,
    TokenLogprob,
)
from text_service.live_requests import LiveRequest, LiveRequests, generation_error
from text_service.openvino_worker import (
    Add,
    Cancel,
    LoadFailed,
    PipelineSpec,
    Ready,
    RequestStep,
    Step,
    Stop,
    run_worker,
)

logger = logging.getLogger(__name__)

ENGINE_NAME = "openvino-continuous-batching"
# StructuredOutputConfig takes JSON Schema, regex and EBNF (a choice list is sent as a regex); the pipeline
# reports the chosen token's logprob but no alternatives.
CAPABILITIES = EngineCapabilities(
    guided_kinds=("json_schema", "regex", "choice", "grammar"), logprobs=True, max_top_logprobs=0
)
STOP_TIMEOUT_SECONDS = 30.0


class PipelineWorker:
    """One worker process and the engine's end of its pipe."""

    def __init__(self, spec: PipelineSpec) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, worker_end = context.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(
            target=run_worker, args=(worker_end, spec), name="openvino-worker", daemon=True
        )
        self.process.start()
        worker_end.close()

    def wait_ready(self, model_path: str) -> str:
        """Blocks until the worker has built the pipeline and returns the precision it computes in.

        A model the worker cannot read is a ModelLoadError naming the file and why.
        """
        try:
            reply = self.connection.recv()
        except EOFError:
            self.process.join()
            raise ModelLoadError(
                f"model: the openvino worker exited with code {self.process.exitcode} while reading {model_path}"
            ) from None
        if isinstance(reply, LoadFailed):
            self.process.join()
            raise ModelLoadError(f"model: openvino cannot read {model_path}: {reply.reason}")
        assert isinstance(reply, Ready)
        return reply.precision

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            self.connection.send(Stop())
        self.process.join(STOP_TIMEOUT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def start_worker(spec: PipelineSpec) -> PipelineWorker:
    """Starts a worker and waits until its pipeline is built; blocking, so callers run it off the event loop."""
    worker = PipelineWorker(spec)
    try:
        worker.wait_ready(spec.model_path)
    except ModelLoadError:
        worker.connection.close()
        raise
    return worker


class OpenVINOEngine(TextEngine):
    """Serves many requests at once through one ContinuousBatchingPipeline in a worker process."""

    def __init__(
        self,
        worker: PipelineWorker,
        spec: PipelineSpec,
        tokenizer: Tokenizer,
        eos: set[int],
        batching: TextBatching,
    ) -> None:
        self._worker = worker
        self._spec = spec
        self._eos = frozenset(eos)
        self._live: LiveRequests[int] = LiveRequests(tokenizer, eos, batching)
        self._numbers = itertools.count()
        self._steps = DecodeSteps()
        self._cache_usage = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replacing: asyncio.Task[None] | None = None
        self._closing = False
        self.description = EngineDescription(
            name=ENGINE_NAME, max_batch_size=batching.max_batch_size, attention="paged (openvino)"
        )
        self.capabilities = CAPABILITIES

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._listen(self._worker)

    def _listen(self, worker: PipelineWorker) -> None:
        threading.Thread(target=self._read_steps, args=(worker,), name="openvino-steps", daemon=True).start()

    def _read_steps(self, worker: PipelineWorker) -> None:
        """Runs on the reader thread: each of the worker's steps reaches the event loop in one callback."""
        assert self._loop is not None
        while True:
            try:
                step = worker.connection.recv()
            except (EOFError, OSError):
                self._loop.call_soon_threadsafe(self._worker_gone, worker)
                return
            self._loop.call_soon_threadsafe(self._on_step, step)

    def submit(self, request: EngineRequest) -> None:
        self._live.check_open()
        if self._replacing is not None:
            raise NotReady("the openvino worker is restarting after a failure; retry in a moment")
        number = next(self._numbers)
        self._live.admit(request, number)
        wants_logprobs = request.top_logprobs is not None
        self._worker.connection.send(
            Add(number, request.prompt_ids, request.sampling, self._eos, request.guide, wants_logprobs)
        )

    def stream(self, request_id: str) -> AsyncIterator[EngineEvent]:
        return self._live.events(request_id)

    def cancel(self, request_id: str) -> Completion | None:
        live = self._live.get(request_id)
        if live is None or live.completion is not None:
            return None
        self._send_cancel(live.ticket)
        return self._live.complete(live, FinishReason.CANCELLED)

    def stats(self) -> EngineStats:
        active = min(len(self._live), self._steps.last_batch_size)
        return EngineStats(
            active_requests=active,
            queued_requests=len(self._live) - active,
            finished_requests=self._live.finished,
            generated_tokens=self._live.generated_tokens,
            peak_batch_size=self._steps.peak_batch_size,
            last_batch_size=self._steps.last_batch_size,
            decode_steps=self._steps.decode_steps,
            kv_cache_usage=self._cache_usage,
        )

    async def close(self) -> None:
        self._live.close()
        self._closing = True
        for live in self._live:
            self.cancel(live.request.request_id)
        await asyncio.to_thread(self._worker.stop)

    def _send_cancel(self, number: int) -> None:
        with contextlib.suppress(OSError):  # the worker is gone; its reader thread reports that
            self._worker.connection.send(Cancel(number))

    def _on_step(self, step: Step) -> None:
        if step.batch_size:
            self._steps.record(step.batch_size)
            self._cache_usage = step.cache_usage
        for output in step.requests:
            live = self._live.get_by_ticket(output.number)
            if live is None:
                continue
            if output.error:
                self._live.fail(live, generation_error(output.error))
            elif self._live.deliver(
                live, output.token_ids, output.finished, output.started_at, _logprobs(live, output)
            ):
                self._send_cancel(output.number)

    def _worker_gone(self, worker: PipelineWorker) -> None:
        """The worker's pipe closed: on close that is expected; otherwise it died, so replace it."""
        if self._closing or worker is not self._worker:
            return
        worker.process.join()
        reason = f"the openvino worker process died (exit code {worker.process.exitcode})"
        logger.error("%s; starting a new one", reason)
        for live in self._live:
            self._live.fail(live, RequestError(f"generation failed: {reason}"))
        self._replacing = asyncio.get_running_loop().create_task(self._replace_worker())

    async def _replace_worker(self) -> None:
        try:
            self._worker = await asyncio.to_thread(start_worker, self._spec)
        except ModelLoadError:
            logger.exception("the openvino worker cannot be restarted; the engine stays unavailable")
            return
        self._listen(self._worker)
        log_fields(logger, "openvino worker restarted", pid=self._worker.process.pid)
        self._replacing = None


def _logprobs(live: LiveRequest[int], output: RequestStep) -> list[TokenLogprob] | None:
    if live.request.top_logprobs is None:
        return None
    return [TokenLogprob(logprob) for logprob in output.logprobs]
