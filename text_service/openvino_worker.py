"""The OpenVINO engine's worker process: it owns the ContinuousBatchingPipeline and runs its steps.

The pipeline's Python binding holds the GIL for the whole of ``step()`` (tens of milliseconds), which in
the service's own process would stall the event loop, gRPC and health checks for every step. In a process
of its own it stalls nothing, and a crash of the native library takes down only this worker, which the
engine restarts. The worker speaks to the engine over one duplex pipe:

- engine → worker: ``Add`` (a request's token ids, sampling, guide and whether it wants logprobs), ``Cancel``,
  ``Stop``;
- worker → engine: ``Ready`` or ``LoadFailed`` once, then one ``Step`` per forward pass holding every
  request's new tokens, so the engine's event loop wakes once per step.

While requests are live the worker steps without waiting; with none it blocks on the pipe.
"""

import json
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import openvino
import openvino_genai as ov_genai
from outlines_core.json_schema import build_regex_from_schema

from text_service.engine import SamplingOptions
from text_service.guided import Guide, schema_keywords

# Hearth's top_k 0 means "no limit"; OpenVINO's own default for that is the largest size_t.
NO_TOP_K = 2**64 - 1
NUMERIC_BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
JSON_WHITESPACE = r"[ ]?"
ENDED = {ov_genai.GenerationStatus.FINISHED, ov_genai.GenerationStatus.CANCEL, ov_genai.GenerationStatus.STOP}


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the worker needs to build the pipeline: plain values, so it crosses the process boundary."""

    model_path: str
    device: str
    kv_blocks: int
    max_batch_size: int
    max_batch_tokens: int
    prefix_caching: bool
    properties: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Add:
    number: int
    prompt_ids: list[int]
    sampling: SamplingOptions
    eos_token_ids: frozenset[int]
    guide: Guide | None = None
    logprobs: bool = False


@dataclass(frozen=True)
class Cancel:
    number: int


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Ready:
    """The pipeline is built; ``precision`` is the type it computes in (e.g. float32), as GetModelInfo's dtype."""

    precision: str


@dataclass(frozen=True)
class LoadFailed:
    reason: str


@dataclass(frozen=True)
class RequestStep:
    """What one step gave one request; ``started_at`` is when the step that gave its first tokens began.

    Stamps are ``time.perf_counter()``, which on Linux reads the system-wide monotonic clock, so the engine's
    process can compare them with its own.
    """

    number: int
    token_ids: list[int]
    finished: bool
    started_at: float
    error: str = ""
    logprobs: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    requests: list[RequestStep]
    batch_size: int
    cache_usage: float


def structured_output(guide: Guide) -> ov_genai.StructuredOutputConfig:
    """A guide as OpenVINO's native structured output (xgrammar inside); a choice list arrives as a regex.

    xgrammar's JSON Schema grammar, as openvino-genai builds it, allows any run of whitespace between JSON
    tokens, and a small model, given newlines, can spend every token it has on them. A schema is therefore
    sent as outlines-core's regex of it, which allows at most one space there, unless the schema bounds
    numbers, which that regex cannot enforce: then xgrammar's own JSON grammar, free whitespace and all.
    """
    structured = ov_genai.StructuredOutputConfig()
    if guide.kind == "json_schema" and not schema_keywords(json.loads(guide.text)) & NUMERIC_BOUNDS:
        structured.regex = build_regex_from_schema(guide.text, JSON_WHITESPACE)
    else:
        setattr(structured, guide.kind, guide.text)
    return structured


def generation_config(command: Add) -> ov_genai.GenerationConfig:
    """The request's sampling, guide and logprobs in OpenVINO's terms; stop strings stay with Hearth's detokenizer.

    OpenVINO reports the chosen token's logprob only (``logprobs`` above 1 acts as 1), before temperature and
    any structured-output mask: so this engine offers logprobs without alternatives.
    """
    sampling = command.sampling
    config = ov_genai.GenerationConfig()
    if command.guide is not None:
        config.structured_output_config = structured_output(command.guide)
    if command.logprobs:
        config.logprobs = 1
    config.max_new_tokens = sampling.max_new_tokens
    config.stop_token_ids = set(command.eos_token_ids)
    config.repetition_penalty = sampling.repetition_penalty
    config.apply_chat_template = False
    if sampling.greedy:
        config.do_sample = False
        config.temperature = 0.0
    else:
        config.do_sample = True
        config.temperature = sampling.temperature
        config.top_p = sampling.top_p
        config.top_k = sampling.top_k or NO_TOP_K
        config.rng_seed = sampling.seed
    return config


def build_pipeline(spec: PipelineSpec) -> ov_genai.ContinuousBatchingPipeline:
    scheduler = ov_genai.SchedulerConfig()
    scheduler.num_kv_blocks = spec.kv_blocks
    scheduler.max_num_seqs = spec.max_batch_size
    scheduler.max_num_batched_tokens = spec.max_batch_tokens
    scheduler.dynamic_split_fuse = True
    scheduler.enable_prefix_caching = spec.prefix_caching
    path = Path(spec.model_path)
    if path.suffix.lower() != ".gguf" or os.access(path, os.W_OK):
        return ov_genai.ContinuousBatchingPipeline(str(path), scheduler, spec.device, spec.properties)
    # openvino-genai 2026.4's GGUF reader opens the file read-write (O_RDWR|O_APPEND, seen with strace), which a
    # read-only file or filesystem refuses: a container's baked-in or mounted model, a non-root user. It reads
    # a private copy instead; the copy's name is gone once the pipeline is built (its data stays mapped).
    with tempfile.TemporaryDirectory(prefix="hearth-gguf-") as folder:
        copy = Path(folder) / path.name
        shutil.copyfile(path, copy)
        return ov_genai.ContinuousBatchingPipeline(str(copy), scheduler, spec.device, spec.properties)


class _Requests:
    """The worker's live handles, keyed by the engine's request number."""

    def __init__(self, pipeline: ov_genai.ContinuousBatchingPipeline) -> None:
        self._pipeline = pipeline
        self._handles: dict[int, tuple[ov_genai.GenerationHandle, float | None]] = {}

    def __bool__(self) -> bool:
        return bool(self._handles)

    def add(self, command: Add) -> None:
        tensor = openvino.Tensor(np.array([command.prompt_ids], dtype=np.int64))
        config = generation_config(command)
        handle = self._pipeline.add_request(command.number, tensor, config)
        self._handles[command.number] = (handle, None)

    def cancel(self, number: int) -> None:
        entry = self._handles.pop(number, None)
        if entry is not None:
            entry[0].cancel()

    def step(self) -> Step:
        began = time.perf_counter()
        try:
            self._pipeline.step()
        except Exception as error:  # the pipeline's own failure: every request in it fails, the worker goes on
            reason = f"{type(error).__name__}: {error}"
            failed = [RequestStep(number, [], True, began, reason) for number in self._handles]
            for number in list(self._handles):
                self.cancel(number)
            return Step(failed, 0, 0.0)
        outputs = []
        for number, (handle, first_step) in list(self._handles.items()):
            new_ids: list[int] = []
            logprobs: list[float] = []
            if handle.can_read():
                for output in handle.read().values():
                    new_ids.extend(output.generated_ids)
                    logprobs.extend(output.generated_log_probs)
            started = first_step if first_step is not None else began
            if new_ids and first_step is None:
                self._handles[number] = (handle, began)
            status = handle.get_status()
            error = "the KV cache cannot hold this request" if status == ov_genai.GenerationStatus.IGNORED else ""
            finished = status in ENDED or bool(error)
            if finished:
                del self._handles[number]
            if new_ids or finished:
                outputs.append(RequestStep(number, new_ids, finished, started, error, logprobs))
        metrics = self._pipeline.get_metrics()
        return Step(outputs, metrics.scheduled_requests, metrics.cache_usage / 100.0)


def run_worker(connection: Connection, spec: PipelineSpec) -> None:
    """The worker's main loop; it ends on ``Stop`` or when the engine's end of the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the service drains us
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        requests = _Requests(build_pipeline(spec))
    except Exception as error:
        connection.send(LoadFailed(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__))
        return
    precision = openvino.Core().get_property(spec.device, "INFERENCE_PRECISION_HINT")
    connection.send(Ready(str(precision.to_dtype())))
    try:
        while True:
            wait: float | None = 0 if requests else None
            while connection.poll(wait):
                command = connection.recv()
                if isinstance(command, Stop):
                    return
                if isinstance(command, Add):
                    requests.add(command)
                else:
                    requests.cancel(command.number)
                wait = 0
            if requests:
                connection.send(requests.step())
    except (EOFError, BrokenPipeError):
        return
