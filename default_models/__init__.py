"""Hearth's embedded default models and where they live under a models folder.

This module stays free of torch and diffusers so that launchers and settings can name the default paths
without paying for those imports; fetching, building and copying live in
``text_gguf``, ``tiny_sd`` and ``scenes``.
"""

from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DIR_NAME = "hearth-scenes"
TINY_DIR_NAME = "tiny-sd"


def text_model_path(models_dir: Path) -> Path:
    """Where `make models` puts the SmolLM2 GGUF."""
    return models_dir / "text" / GGUF_NAME


def image_model_path(models_dir: Path) -> Path:
    """Where `make models` puts the default image model: the scene model the project trained."""
    return models_dir / "image" / DIR_NAME


def tiny_image_model_path(models_dir: Path) -> Path:
    """Where `make models` puts the tiny random pipeline, for tests that need speed only."""
    return models_dir / "image" / TINY_DIR_NAME
