"""The peer's copy of the text model: `transformers serve` reads a safetensors folder, not a GGUF file.

The embedded GGUF is dequantized once, the way the text service loads it, and written with
``save_pretrained`` into the git-ignored bench cache; later runs reuse it while the GGUF's SHA-256 matches.
A model loaded from GGUF keeps its GGUF quantizer, which refuses to save, so its float32 weights are moved
into a plain model built from the same config first.
"""

import json
import shutil
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel

from default_models.text_gguf import sha256_of

SOURCE_FILE = "hearth-source.json"


def ensure_peer_checkpoint(gguf_path: Path, cache_dir: Path) -> Path:
    """The safetensors folder for `gguf_path`, converted on the first call and reused after."""
    target = cache_dir / f"{gguf_path.stem}-safetensors"
    source = {"gguf": gguf_path.name, "sha256": sha256_of(gguf_path)}
    marker = target / SOURCE_FILE
    if marker.exists() and json.loads(marker.read_text()) == source:
        return target
    from bench.text_model import load_text_model

    model, tokenizer = load_text_model(gguf_path)
    plain = _without_quantizer(model)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    (partial / SOURCE_FILE).write_text(json.dumps(source))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _without_quantizer(model: PreTrainedModel) -> PreTrainedModel:
    config = model.config
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    return plain
