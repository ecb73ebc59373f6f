"""Loading a model for the OpenVINO engine: a GGUF file OpenVINO GenAI reads as it is, or an OpenVINO IR folder.

The prompt side stays Hearth's: the tokenizer and chat template come from transformers, as for the other
engine, so both engines turn a request into the same token ids. The pipeline's KV cache, tokens per step
and threads come from the same settings as the transformers engine's.
"""

import logging
import time
from dataclasses import dataclass
from functools import cache
from math import ceil
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer, PreTrainedTokenizerBase

from serving_core.model_service import ModelLoadError
from serving_core.structured_logging import log_fields
from text_service.engine import TextBatching
from text_service.gguf_metadata import read_metadata
from text_service.loading import (
    eos_token_ids,
    fit_context,
    model_name,
    native_context,
    usable_cores,
)
from text_service.openvino_engine import PipelineWorker
from text_service.openvino_worker import PipelineSpec
from text_service.settings import TextSettings

logger = logging.getLogger(__name__)

IR_FILE = "openvino_model.xml"
# The GGUF architectures openvino-genai 2026.4's reader builds a model for (src/cpp/src/gguf_utils).
GGUF_ARCHITECTURES = frozenset({"llama", "qwen2", "qwen3"})
# The CPU plugin's KV cache block, in tokens (openvino-genai's kv_cache_manager).
CPU_BLOCK_TOKENS = 32


@dataclass(frozen=True)
class OpenVINOModel:
    """The running worker, how to start another, and what the service needs to know about the model."""

    worker: PipelineWorker
    spec: PipelineSpec
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    dtype: str
    context_length: int
    eos_token_ids: tuple[int, ...]


@dataclass(frozen=True)
class _GGUFFacts:
    architecture: str
    context_length: int
    eos_token_id: int | None


@cache
def _gguf_facts(path: Path) -> _GGUFFacts:
    """The architecture, context length and end-of-sequence id, from the header alone (gguf_metadata says why).

    Cached: the engine choice, the loader's check and the prompt side all ask, and the file does not change
    while the service starts.
    """
    context_keys = {f"{architecture}.context_length" for architecture in GGUF_ARCHITECTURES}
    found = read_metadata(path, {"general.architecture", "tokenizer.ggml.eos_token_id", *context_keys})
    architecture = str(found.get("general.architecture", ""))
    eos = found.get("tokenizer.ggml.eos_token_id")
    return _GGUFFacts(
        architecture=architecture,
        context_length=int(found.get(f"{architecture}.context_length", 0)),
        eos_token_id=int(eos) if eos is not None else None,
    )


def openvino_reads(model: str) -> bool:
    """Whether the OpenVINO engine can serve this model: an IR folder, or a GGUF of an architecture it builds."""
    path = Path(model)
    if path.is_dir():
        return (path / IR_FILE).is_file()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        return False
    try:
        return _gguf_facts(path).architecture in GGUF_ARCHITECTURES
    except (OSError, ValueError):
        return False


def _pipeline_device(device: str) -> str:
    if device in ("auto", "cpu"):
        return "CPU"
    raise ModelLoadError(
        f"device: the openvino engine runs on the CPU here, not {device!r}; set HEARTH_TEXT_ENGINE=transformers"
    )


def engine_threads(configured: int) -> int:
    """0 (auto) gives OpenVINO every usable core: its step releases them between passes (docs/architecture.md)."""
    return configured or usable_cores()


def pipeline_spec(settings: TextSettings, batching: TextBatching, threads: int) -> PipelineSpec:
    return PipelineSpec(
        model_path=settings.model,
        device=_pipeline_device(settings.device),
        kv_blocks=ceil(batching.kv_cache_tokens / CPU_BLOCK_TOKENS),
        max_batch_size=batching.max_batch_size,
        max_batch_tokens=batching.max_batch_tokens,
        prefix_caching=settings.prefix_caching,
        properties={"INFERENCE_NUM_THREADS": threads, "KV_CACHE_PRECISION": settings.kv_cache_precision},
    )


def _read_prompt_side(path: Path) -> tuple[PreTrainedTokenizerBase, int, tuple[int, ...]]:
    """Tokenizer, native context length and end-of-sequence ids, from the GGUF metadata or the IR folder's files."""
    if path.is_dir():
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        return tokenizer, native_context(config, tokenizer), eos_token_ids(tokenizer, config)
    facts = _gguf_facts(path)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    eos = {*eos_token_ids(tokenizer), *([facts.eos_token_id] if facts.eos_token_id is not None else [])}
    return tokenizer, facts.context_length, tuple(sorted(eos))


def load_openvino(settings: TextSettings, batching: TextBatching) -> OpenVINOModel:
    """Reads the tokenizer and starts the worker that builds the pipeline; blocking, so run it off the event loop."""
    started = time.perf_counter()
    path = Path(settings.model)
    if not openvino_reads(settings.model):
        raise ModelLoadError(
            f"model: the openvino engine reads a GGUF file of architecture {sorted(GGUF_ARCHITECTURES)} or a folder "
            f"with {IR_FILE}; {settings.model} is neither (convert it with `optimum-cli export openvino`, or set "
            "HEARTH_TEXT_ENGINE=transformers)"
        )
    if settings.quantization != "none":
        raise ModelLoadError(
            f"quantization={settings.quantization} is bitsandbytes, a transformers feature; the openvino engine runs "
            "the model's own quantization (GGUF or IR). Set HEARTH_TEXT_QUANTIZATION=none or "
            "HEARTH_TEXT_ENGINE=transformers"
        )
    threads = engine_threads(settings.threads)
    spec = pipeline_spec(settings, batching, threads)
    worker = PipelineWorker(spec)  # builds the pipeline while this process reads the tokenizer
    try:
        tokenizer, native, eos = _read_prompt_side(path)
    except (OSError, ValueError) as error:
        worker.stop()
        raise ModelLoadError(f"model: cannot read the tokenizer of {path}: {error}") from error
    precision = worker.wait_ready(spec.model_path)
    model = OpenVINOModel(
        worker=worker,
        spec=spec,
        tokenizer=tokenizer,
        model_id=model_name(settings.model),
        dtype=precision,
        context_length=fit_context(native, settings.context_length),
        eos_token_ids=eos,
    )
    log_fields(
        logger,
        "model loaded",
        engine="openvino",
        model=model.model_id,
        threads=threads,
        context_length=model.context_length,
        seconds=round(time.perf_counter() - started, 2),
    )
    return model
