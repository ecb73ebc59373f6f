"""Reading a GGUF header's metadata without the gguf package's full parse."""

from pathlib import Path

import pytest

from text_service.gguf_metadata import GGUFFormatError, read_metadata


def test_the_embedded_model_is_a_llama_with_an_8k_context(text_model_path: Path) -> None:
    keys = {"general.architecture", "llama.context_length", "tokenizer.ggml.eos_token_id", "no.such.key"}
    assert read_metadata(text_model_path, keys) == {
        "general.architecture": "llama",
        "llama.context_length": 8192,
        "tokenizer.ggml.eos_token_id": 2,
    }


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "model.gguf"
    other.write_bytes(b"PK\x03\x04" + bytes(32))
    with pytest.raises(GGUFFormatError, match="magic"):
        read_metadata(other, {"general.architecture"})


def test_a_truncated_header_is_refused(text_model_path: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(text_model_path.read_bytes()[:200])
    with pytest.raises(GGUFFormatError, match="ends inside"):
        read_metadata(truncated, {"tokenizer.ggml.eos_token_id"})
