"""Loading the text model in the bench's own processes, exactly as the text service loads it on CPU.

The in-process measurement, the naive baseline and the peer's safetensors conversion all read the same
GGUF the same way (dequantized to float32), so every system in a comparison runs the same weights.
"""

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase


def load_text_model(gguf_path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model (eval mode, float32, CPU) and its tokenizer, both read from the GGUF file."""
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    return model.eval(), tokenizer
