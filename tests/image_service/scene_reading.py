"""Reading a generated scene back: what colour and shape its main object has, and where it sits.

Deliberately crude, so that it judges the picture and not the model's internals: the background is the
colour of the border; every other pixel is given the nearest of the grammar's colour names; the largest of
those colour groups is the object. Its centroid gives the half of the picture it is in, and how much of
its bounding box it fills gives its shape (a square fills all of it, a circle about 0.79, a triangle 0.5,
a five-pointed star about 0.38).
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image

from default_models.scene_grammar import COLOURS

NAMES = list(COLOURS)
PALETTE = np.array([COLOURS[name] for name in NAMES], dtype=np.float32)
FOREGROUND_DISTANCE = 80
MARGIN = 2
FILL_BOUNDS = ((0.48, "star"), (0.66, "triangle"), (0.88, "circle"), (float("inf"), "square"))


@dataclass(frozen=True)
class Reading:
    """What the picture shows: its main object's colour name, shape name and which half it is in."""

    colour: str
    shape: str
    side: str


def read_scene(image: Image.Image) -> Reading | None:
    """The main object of ``image``, or None when nothing stands out from the background."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    foreground = np.linalg.norm(pixels - background, axis=-1) > FOREGROUND_DISTANCE
    if foreground.sum() < 4:
        return None
    nearest = np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1).argmin(axis=-1)
    counts = np.bincount(nearest[foreground], minlength=len(NAMES))
    colour = int(counts.argmax())
    rows, cols = np.nonzero(foreground & (nearest == colour))
    side = "left" if cols.mean() < pixels.shape[1] / 2 else "right"
    return Reading(NAMES[colour], shape_of(foreground, rows, cols), side)


def shape_of(foreground: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> str:
    """The shape whose fill ratio matches the object's, over every foreground pixel around it.

    Taken over the foreground near the object's colour group rather than the group alone: the
    antialiased tips of a star are a paler colour, and without them its box shrinks and it fills like
    a triangle.
    """
    top, left = max(rows.min() - MARGIN, 0), max(cols.min() - MARGIN, 0)
    around = foreground[top : rows.max() + MARGIN + 1, left : cols.max() + MARGIN + 1]
    near_rows, near_cols = np.nonzero(around)
    fill = len(near_rows) / ((np.ptp(near_rows) + 1) * (np.ptp(near_cols) + 1))
    return next(name for bound, name in FILL_BOUNDS if fill < bound)
