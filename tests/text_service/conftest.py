"""Fixtures of the text service tests: the real service once per engine, and the model in-process.

Every test that takes ``text_service`` here runs against each engine (OpenVINO, transformers), so one
behaviour suite holds both to the same contract; the gateway's tests use the default engine only.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from tests.conftest import session_service
from tests.service_processes import ServiceProcess
from text_service.loading import LoadedModel, load_model
from text_service.settings import TextSettings

ENGINES = ("openvino", "transformers")


@pytest.fixture(scope="session", params=ENGINES)
def text_engine(request: pytest.FixtureRequest) -> str:
    """The engine a service test runs against (HEARTH_TEXT_ENGINE)."""
    return request.param


@pytest.fixture(scope="session")
def text_service(
    text_engine: str, text_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """A real text service on the embedded model with ``text_engine`` (read-only use: don't stop it)."""
    logs = tmp_path_factory.mktemp(f"logs-{text_engine}")
    yield from session_service("text_service", "HEARTH_TEXT", text_model_path, logs, HEARTH_TEXT_ENGINE=text_engine)


@pytest.fixture(scope="session")
def text_tokenizer(text_model_path: Path) -> PreTrainedTokenizerBase:
    """The embedded model's tokenizer, read from its GGUF file."""
    return AutoTokenizer.from_pretrained(text_model_path.parent, gguf_file=text_model_path.name)


@pytest.fixture(scope="session")
def loaded_text_model(text_model_path: Path) -> LoadedModel:
    """The embedded model loaded in this process, as the service loads it."""
    return load_model(TextSettings(model=str(text_model_path)))
