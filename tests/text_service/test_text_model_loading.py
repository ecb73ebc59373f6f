"""Loading: safetensors folders load, pickled weights and uncached hub ids are refused, offline always."""

from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from serving_core.model_service import ModelLoadError
from text_service.loading import load_model
from text_service.settings import TextSettings


def _tiny_model_folder(folder: Path, tokenizer: PreTrainedTokenizerBase, *, safetensors: bool) -> Path:
    """A random two-layer Llama with the embedded model's tokenizer: a real folder, in a second."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if safetensors:
        model.save_pretrained(folder)
    else:
        config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    tokenizer.save_pretrained(folder)
    return folder


def test_a_safetensors_folder_loads_with_its_own_context(
    tmp_path: Path, text_tokenizer: PreTrainedTokenizerBase
) -> None:
    folder = _tiny_model_folder(tmp_path / "tiny-llama", text_tokenizer, safetensors=True)
    loaded = load_model(TextSettings(model=str(folder), threads=1))
    assert loaded.model_id == "tiny-llama"
    assert (loaded.device.type, loaded.dtype) == ("cpu", torch.float32)
    assert loaded.context_length == 512
    assert text_tokenizer.eos_token_id in loaded.eos_token_ids
    capped = load_model(TextSettings(model=str(folder), context_length=100, threads=1))
    assert capped.context_length == 100


def test_pickled_weights_are_refused(tmp_path: Path, text_tokenizer: PreTrainedTokenizerBase) -> None:
    folder = _tiny_model_folder(tmp_path / "pickled", text_tokenizer, safetensors=False)
    assert not list(folder.glob("*.safetensors"))
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(TextSettings(model=str(folder), threads=1))
    with pytest.raises(ValueError, match="pickled weights"):
        TextSettings(model=str(folder / "pytorch_model.bin"))


def test_a_hub_id_that_is_not_in_the_cache_is_not_downloaded() -> None:
    with pytest.raises(ModelLoadError, match="offline"):
        load_model(TextSettings(model="HuggingFaceTB/no-such-model-here", threads=1))
