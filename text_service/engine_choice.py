"""Which engine serves the model, and loading it: each machine gets the fastest engine that can read the model.

``auto`` picks OpenVINO GenAI on a CPU for a GGUF file it reads or an OpenVINO IR folder (on the 2-core
machine it gives several times the tokens per second of transformers on the same file), and transformers'
continuous batching on a GPU or for a safetensors folder. Operators can force either with
``HEARTH_TEXT_ENGINE``.
"""

from dataclasses import dataclass
from typing import Literal

from transformers import PreTrainedTokenizerBase

from serving_core.torch_device import resolve_device
from text_service import transformers_internals as internals
from text_service.engine import TextBatching, TextEngine
from text_service.loading import load_model
from text_service.openvino_engine import OpenVINOEngine
from text_service.openvino_loading import load_openvino, openvino_reads
from text_service.settings import TextSettings
from text_service.transformers_engine import TransformersEngine

EngineName = Literal["openvino", "transformers"]


@dataclass(frozen=True)
class ModelFacts:
    """What GetModelInfo says about the model besides limits and engine."""

    model_id: str
    dtype: str
    device: str


@dataclass(frozen=True)
class LoadedEngine:
    """A started-able engine with the tokenizer that makes its prompts and what GetModelInfo reports."""

    engine: TextEngine
    tokenizer: PreTrainedTokenizerBase
    facts: ModelFacts
    context_length: int


def batching_settings(settings: TextSettings) -> TextBatching:
    return TextBatching(
        max_batch_size=settings.max_batch_size,
        max_queue=settings.max_queue,
        max_batch_tokens=settings.max_batch_tokens,
        kv_cache_tokens=settings.kv_cache_tokens,
    )


def choose_engine(settings: TextSettings) -> EngineName:
    """``auto``: OpenVINO on a CPU for a model it reads, unless bitsandbytes quantization (a transformers feature)
    is asked for; transformers otherwise."""
    if settings.engine != "auto":
        return settings.engine
    on_cpu = resolve_device(settings.device).type == "cpu"
    plain = settings.quantization == "none"
    return "openvino" if on_cpu and plain and openvino_reads(settings.model) else "transformers"


def load_engine(settings: TextSettings) -> LoadedEngine:
    """Loads the model into the chosen engine; blocking, so callers run it off the event loop."""
    batching = batching_settings(settings)
    if choose_engine(settings) == "openvino":
        model = load_openvino(settings, batching)
        engine = OpenVINOEngine(
            model.worker, model.spec, internals.rust_tokenizer(model.tokenizer), set(model.eos_token_ids), batching
        )
        facts = ModelFacts(model.model_id, model.dtype, "cpu")
        return LoadedEngine(engine, model.tokenizer, facts, model.context_length)
    loaded = load_model(settings)
    facts = ModelFacts(loaded.model_id, str(loaded.dtype).removeprefix("torch."), str(loaded.device))
    return LoadedEngine(TransformersEngine(loaded, batching), loaded.tokenizer, facts, loaded.context_length)
