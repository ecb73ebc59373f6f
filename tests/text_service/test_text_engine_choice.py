"""Which engine `auto` picks for a model, without loading it: OpenVINO on a CPU for what it reads."""

from pathlib import Path

import pytest

from text_service.engine_choice import choose_engine
from text_service.settings import TextSettings


def test_auto_serves_the_embedded_gguf_with_openvino_on_a_cpu(text_model_path: Path) -> None:
    assert choose_engine(TextSettings(model=str(text_model_path))) == "openvino"


def test_auto_serves_an_openvino_ir_folder_with_openvino(tmp_path: Path) -> None:
    (tmp_path / "openvino_model.xml").write_text("<net/>")
    assert choose_engine(TextSettings(model=str(tmp_path))) == "openvino"


def test_auto_serves_a_safetensors_folder_or_a_hub_id_with_transformers(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert choose_engine(TextSettings(model=str(tmp_path))) == "transformers"
    assert choose_engine(TextSettings(model="HuggingFaceTB/SmolLM2-360M-Instruct")) == "transformers"


def test_auto_leaves_a_gguf_openvino_cannot_build_to_transformers(tmp_path: Path) -> None:
    unknown = tmp_path / "garbage.gguf"
    unknown.write_bytes(b"GGUF" + bytes(64))
    assert choose_engine(TextSettings(model=str(unknown))) == "transformers"


def test_bitsandbytes_quantization_is_a_transformers_feature(text_model_path: Path) -> None:
    assert choose_engine(TextSettings(model=str(text_model_path), quantization="8bit")) == "transformers"


@pytest.mark.parametrize("engine", ["openvino", "transformers"])
def test_an_engine_set_by_the_operator_is_used_as_is(tmp_path: Path, engine: str) -> None:
    assert choose_engine(TextSettings(model=str(tmp_path), engine=engine)) == engine
