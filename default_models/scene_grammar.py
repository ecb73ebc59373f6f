"""Procedural scenes and their captions: the only thing the embedded image model ever saw.

A scene is one or two flat shapes on a plain background, drawn with Pillow; its caption says every choice
("a small red circle on the left and a blue star on the right on a black background"). Scenes come from a
seed alone, so the data set is regenerated identically on any machine and nothing is ever downloaded.
"""

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 70, 220),
    "yellow": (245, 215, 30),
    "orange": (245, 130, 20),
    "purple": (130, 40, 170),
    "pink": (250, 135, 190),
    "cyan": (40, 210, 225),
    "brown": (120, 70, 30),
    "black": (20, 20, 20),
    "white": (245, 245, 245),
    "gray": (128, 128, 128),
}
BACKGROUNDS = ("white", "black", "gray")
SHAPES = ("circle", "square", "triangle", "star")
SIZES: dict[str, float] = {"small": 0.10, "": 0.16, "big": 0.24}
POSITIONS: dict[str, tuple[float, float]] = {
    "in the center": (0.5, 0.5),
    "on the left": (0.25, 0.5),
    "on the right": (0.75, 0.5),
    "at the top": (0.5, 0.25),
    "at the bottom": (0.5, 0.75),
    "in the top left": (0.25, 0.25),
    "in the top right": (0.75, 0.25),
    "in the bottom left": (0.25, 0.75),
    "in the bottom right": (0.75, 0.75),
}
PAIRS = (
    ("on the left", "on the right"),
    ("at the top", "at the bottom"),
    ("in the top left", "in the bottom right"),
    ("in the top right", "in the bottom left"),
)
JITTER = 0.04


@dataclass(frozen=True)
class Shape:
    """One shape of a scene: what, which colour, how big and where (a key of POSITIONS)."""

    kind: str
    colour: str
    size: str
    position: str

    @property
    def phrase(self) -> str:
        words = " ".join(word for word in (self.size, self.colour, self.kind, self.position) if word)
        return ("an " if words[0] in "aeiou" else "a ") + words


@dataclass(frozen=True)
class Scene:
    """Shapes on a background; ``background_named`` says whether the caption mentions the background."""

    shapes: tuple[Shape, ...]
    background: str
    background_named: bool

    @property
    def caption(self) -> str:
        text = " and ".join(shape.phrase for shape in self.shapes)
        return f"{text} on a {self.background} background" if self.background_named else text


def default_background(colours: list[str]) -> str:
    """The background of a caption that names none: white, or black when a shape is white."""
    return "black" if "white" in colours else "white"


def random_scene(rng: random.Random) -> Scene:
    """One scene drawn from the grammar; the same generator state always gives the same scene."""
    positions = rng.choice(PAIRS) if rng.random() < 0.3 else (rng.choice(list(POSITIONS)),)
    colours = rng.sample(list(COLOURS), len(positions))
    shapes = tuple(
        Shape(rng.choice(SHAPES), colour, rng.choice(list(SIZES)) if len(positions) == 1 else "", position)
        for colour, position in zip(colours, positions, strict=True)
    )
    if rng.random() < 0.4:
        background = rng.choice([name for name in BACKGROUNDS if name not in colours])
        return Scene(shapes, background, background_named=True)
    return Scene(shapes, default_background(colours), background_named=False)


def polygon(kind: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """The outline of a square, triangle or star of half-size r around (cx, cy)."""
    if kind == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if kind == "triangle":
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    points = []
    for i in range(10):
        radius = r if i % 2 == 0 else r * 0.38
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def draw(scene: Scene, rng: random.Random) -> Image.Image:
    """The scene as a SIZE x SIZE RGB image, antialiased by drawing large and scaling down."""
    big = SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), COLOURS[scene.background])
    pen = ImageDraw.Draw(image)
    for shape in scene.shapes:
        x, y = POSITIONS[shape.position]
        cx = (x + rng.uniform(-JITTER, JITTER)) * big
        cy = (y + rng.uniform(-JITTER, JITTER)) * big
        r = SIZES[shape.size] * big * rng.uniform(0.9, 1.1)
        if shape.kind == "circle":
            pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=COLOURS[shape.colour])
        else:
            pen.polygon(polygon(shape.kind, cx, cy, r), fill=COLOURS[shape.colour])
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def scene_at(seed: int, index: int) -> tuple[Image.Image, str]:
    """Item ``index`` of the data set of ``seed``: its image and caption, independent of every other item."""
    rng = random.Random(seed * 1_000_003 + index)
    scene = random_scene(rng)
    return draw(scene, rng), scene.caption


def vocabulary() -> list[str]:
    """Every word a caption can hold, so the tokenizer gives each one token of its own."""
    words = {"a", "an", "and", "on", "background", *COLOURS, *SHAPES}
    words.update(word for size in SIZES for word in size.split())
    words.update(word for position in POSITIONS for word in position.split())
    return sorted(words)
