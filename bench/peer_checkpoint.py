"""The peer's copy of the text model: `transformers serve` reads a safetensors folder, not a GGUF file.

The embedded GGUF is dequantized once to float32, the way the text service's transformers engine loads it,
and written with ``save_pretrained`` into the git-ignored bench cache; later runs reuse it while the GGUF's
SHA-256 matches.
A model loaded from GGUF keeps its GGUF quantizer, which refuses to save, so its float32 weights are moved
into a plain model built from the same config first. torch and transformers are imported only when a
conversion is due, so the bench's own process (the load generator) stays small on every later run.
"""

import json
import shutil
from pathlib import Path

from default_models.text_gguf import sha256_of

SOURCE_FILE = "hearth-source.json"


def ensure_peer_checkpoint(gguf_path: Path, cache_dir: Path) -> Path:
    """The safetensors folder for `gguf_path`, converted on the first call and reused after."""
    target = cache_dir / f"{gguf_path.stem}-safetensors"
    source = {"gguf": gguf_path.name, "sha256": sha256_of(gguf_path)}
    marker = target / SOURCE_FILE
    if marker.exists() and json.loads(marker.read_text()) == source:
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _convert(gguf_path, partial)
    (partial / SOURCE_FILE).write_text(json.dumps(source))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _convert(gguf_path: Path, output: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    config = model.config
    del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True)
    plain.generation_config = model.generation_config
    plain.save_pretrained(output)
    tokenizer.save_pretrained(output)
