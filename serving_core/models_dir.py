"""Where the embedded default models live, shared by every service: ``HEARTH_MODELS_DIR``, default ``./models``.

A setting rather than a path next to the code, so an installed Hearth (``pip install .``, a container)
finds the models wherever ``python -m default_models`` put them, not only in a checkout.
"""

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field

MODELS_DIR_VARIABLE = "HEARTH_MODELS_DIR"

ModelsDir = Annotated[
    Path,
    Field(
        validation_alias=AliasChoices(MODELS_DIR_VARIABLE, "models_dir"),
        description="folder of the embedded default models (HEARTH_MODELS_DIR); used when no model is set",
    ),
]
