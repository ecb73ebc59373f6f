"""Loading the one causal language model the service owns, offline and from safe formats only.

A model is a ``.gguf`` file (transformers dequantizes it to the load dtype), a local folder with
safetensors weights, or a hub id that is already in the local cache; the hub is never contacted
(``HF_HUB_OFFLINE`` is set by ``__main__`` and ``local_files_only`` here). Pickled weights are refused.
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from serving_core.model_service import ModelLoadError
from serving_core.structured_logging import log_fields
from serving_core.torch_device import resolve_device, resolve_dtype
from text_service.settings import TextSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """The model with what the rest of the service needs to know about it."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    model_id: str
    device: torch.device
    dtype: torch.dtype
    context_length: int
    eos_token_ids: tuple[int, ...]


def model_source(model: str) -> tuple[str, str | None]:
    """Where from_pretrained reads from, and the GGUF file name inside it (None for safetensors)."""
    path = Path(model)
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"model: GGUF file {model} does not exist")
        return str(path.parent), path.name
    if path.is_file():
        raise ModelLoadError(f"model: {model} is a file but not .gguf; give a .gguf file or a safetensors folder")
    return model, None


def _quantization_config(settings: TextSettings, device: torch.device) -> Any:
    """bitsandbytes works on CUDA only: anywhere else the service refuses to start rather than run unquantized."""
    if settings.quantization == "none":
        return None
    if device.type != "cuda":
        raise ModelLoadError(
            f"quantization={settings.quantization} needs a CUDA device (bitsandbytes); the device is {device}. "
            "Set HEARTH_TEXT_QUANTIZATION=none or run on a CUDA GPU."
        )
    from transformers import BitsAndBytesConfig

    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise ModelLoadError(f"quantization={settings.quantization} needs the bitsandbytes package") from error
    if settings.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=resolve_dtype(settings.dtype, device))


def native_context(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase) -> int:
    """The model's own window: position embeddings, else the tokenizer's limit; 0 when neither says."""
    text_config = config.get_text_config()
    native = getattr(text_config, "max_position_embeddings", None) or getattr(tokenizer, "model_max_length", 0)
    return int(native) if native and native < 10**8 else 0


def fit_context(native: int, configured: int) -> int:
    """The context a request may fill: the model's own window capped by the setting."""
    if configured and native:
        return min(configured, native)
    if configured or native:
        return configured or native
    raise ModelLoadError("context_length: the model does not say how long its context is; set it")


def eos_token_ids(tokenizer: PreTrainedTokenizerBase, *configs: Any) -> tuple[int, ...]:
    """Every id that ends a sequence: a generation config may list several (chat models often do)."""
    ids: set[int] = set()
    for source in (*(config.eos_token_id for config in configs), tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(int(i) for i in source)
    return tuple(sorted(ids))


def torch_threads(configured: int) -> int:
    """0 (auto) leaves one core to the event loop and gRPC: the generation thread shares the CPU with them, and
    on the 2-core machine one torch thread gave 16 streams 30% more tokens/s than two (docs/architecture.md)."""
    return configured or max(1, usable_cores() - 1)


def usable_cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


def model_name(model: str) -> str:
    """A short name for GetModelInfo: the file name without .gguf, the folder name, or the hub id."""
    path = Path(model)
    if path.suffix.lower() == ".gguf":
        return path.stem
    if path.is_dir():
        return path.resolve().name
    return model


def load_model(settings: TextSettings) -> LoadedModel:
    """Loads tokenizer and model on the configured device and dtype; blocking, so callers run it off the loop."""
    started = time.perf_counter()
    torch.set_num_threads(torch_threads(settings.threads))
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    source, gguf_file = model_source(settings.model)
    quantization = _quantization_config(settings, device)
    common: dict[str, Any] = {"trust_remote_code": settings.trust_remote_code, "local_files_only": True}
    if gguf_file:
        common["gguf_file"] = gguf_file
    weights = {} if gguf_file else {"use_safetensors": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **common)
        model = AutoModelForCausalLM.from_pretrained(
            source,
            **common,
            **weights,
            dtype=dtype,
            device_map=str(device),
            attn_implementation=settings.attention,
            quantization_config=quantization,
        )
    except OSError as error:
        raise ModelLoadError(f"model: cannot load {settings.model!r} offline: {error}") from error
    model.eval()
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        model_id=model_name(settings.model),
        device=model.device,
        dtype=model.dtype,
        context_length=fit_context(native_context(model.config, tokenizer), settings.context_length),
        eos_token_ids=eos_token_ids(tokenizer, model.generation_config, model.config),
    )
    log_fields(
        logger,
        "model loaded",
        model=loaded.model_id,
        device=str(loaded.device),
        dtype=str(loaded.dtype).removeprefix("torch."),
        context_length=loaded.context_length,
        seconds=round(time.perf_counter() - started, 2),
    )
    return loaded
