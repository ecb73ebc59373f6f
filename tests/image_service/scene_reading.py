"""Reading a generated scene back: what colour and shape its main object has, where it sits, and where a
named colour is.

Deliberately crude, so that it judges the picture and not the model's internals: the background is the
colour of the border; every other pixel is given the nearest of the grammar's colour names; the largest of
those colour groups is the object. Its centroid gives the half of the picture it is in, and how much of
its bounding box it fills tells a square (all of it) and a circle (about 0.79) from the pointed shapes;
among those, a triangle (apex up) is widest at its base, a five-pointed star across its arms, in its
upper half.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image

from default_models.scene_grammar import COLOURS

NAMES = list(COLOURS)
PALETTE = np.array([COLOURS[name] for name in NAMES], dtype=np.float32)
FOREGROUND_DISTANCE = 80
MARGIN = 2
POINTED_FILL = 0.66
SQUARE_FILL = 0.88
BASE_ROWS = 0.75
MIN_PIXELS = 4


@dataclass(frozen=True)
class Reading:
    """What the picture shows: its main object's colour name, shape name and which half it is in."""

    colour: str
    shape: str
    side: str


def _foreground_and_names(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels stand out from the border's median colour, and each pixel's nearest colour name (index)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background = np.median(border, axis=0)
    foreground = np.linalg.norm(pixels - background, axis=-1) > FOREGROUND_DISTANCE
    return foreground, np.linalg.norm(pixels[..., None, :] - PALETTE, axis=-1).argmin(axis=-1)


def colour_centre(image: Image.Image, colour: str) -> tuple[float, float] | None:
    """The (row, column) centroid of the foreground pixels nearest to ``colour``; None when there are too few."""
    foreground, nearest = _foreground_and_names(image)
    rows, cols = np.nonzero(foreground & (nearest == NAMES.index(colour)))
    return (float(rows.mean()), float(cols.mean())) if len(rows) >= MIN_PIXELS else None


def read_scene(image: Image.Image) -> Reading | None:
    """The main object of ``image``, or None when nothing stands out from the background."""
    foreground, nearest = _foreground_and_names(image)
    if foreground.sum() < MIN_PIXELS:
        return None
    counts = np.bincount(nearest[foreground], minlength=len(NAMES))
    colour = int(counts.argmax())
    rows, cols = np.nonzero(foreground & (nearest == colour))
    side = "left" if cols.mean() < foreground.shape[1] / 2 else "right"
    return Reading(NAMES[colour], shape_of(foreground, rows, cols), side)


def shape_of(foreground: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> str:
    """The shape whose fill ratio and widest row match the object's, over every foreground pixel around it.

    Taken over the foreground near the object's colour group rather than the group alone: the
    antialiased tips of a star are a paler colour, and without them its box shrinks. The widest row
    rather than the fill ratio alone tells the pointed shapes apart: a star drawn with soft inner
    corners fills its box as much as a triangle does (about 0.5), but its arms still sit high.
    """
    top, left = max(rows.min() - MARGIN, 0), max(cols.min() - MARGIN, 0)
    around = foreground[top : rows.max() + MARGIN + 1, left : cols.max() + MARGIN + 1]
    near_rows, near_cols = np.nonzero(around)
    fill = len(near_rows) / ((np.ptp(near_rows) + 1) * (np.ptp(near_cols) + 1))
    if fill >= SQUARE_FILL:
        return "square"
    if fill >= POINTED_FILL:
        return "circle"
    widths = around[near_rows.min() : near_rows.max() + 1].sum(axis=1)
    widest = float(np.flatnonzero(widths == widths.max()).mean()) / max(len(widths) - 1, 1)
    return "triangle" if widest >= BASE_ROWS else "star"
