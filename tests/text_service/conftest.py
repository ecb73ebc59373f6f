"""In-process fixtures for the text service's unit and engine tests (the service tests use `text_service`)."""

from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from text_service.model_loading import LoadedModel, load_model
from text_service.settings import TextSettings


@pytest.fixture(scope="session")
def text_tokenizer(text_model_path: Path) -> PreTrainedTokenizerBase:
    """The embedded model's tokenizer, read from its GGUF file."""
    return AutoTokenizer.from_pretrained(text_model_path.parent, gguf_file=text_model_path.name)


@pytest.fixture(scope="session")
def loaded_text_model(text_model_path: Path) -> LoadedModel:
    """The embedded model loaded in this process, as the service loads it."""
    return load_model(TextSettings(model=str(text_model_path)))
