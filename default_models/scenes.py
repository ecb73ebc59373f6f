"""The trained scene model the project commits, and putting it in place under a models folder.

Kept free of torch: ``make models`` only copies files, it never trains.
"""

import filecmp
import shutil
from pathlib import Path

from default_models import image_model_path

SCENES_DIR = Path(__file__).resolve().parent / "hearth-scenes"
TRAIN_SEED = 17
HELD_OUT_SEED = 18


def ensure_scenes_model(models_dir: Path) -> Path:
    """Copies the committed pipeline folder to its place under models_dir; files already equal stay untouched."""
    target = image_model_path(models_dir)
    for source in sorted(SCENES_DIR.rglob("*")):
        if source.is_dir():
            continue
        copy = target / source.relative_to(SCENES_DIR)
        if not (copy.exists() and filecmp.cmp(source, copy, shallow=False)):
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, copy)
    return target
