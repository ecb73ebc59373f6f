"""The image service on the embedded scene model draws what it is asked: colour, shape and side, read back.

Every colour x shape x side of the grammar is asked for once, all at the same time, so the service batches
them into a few pipeline calls, and then pairs of shapes on opposite sides; each picture is read back by a
crude measure (scene_reading). The thresholds sit well under what the committed model reaches (shape 92%
over six seeds, 89 to 96% on each) and far above chance, yet high enough that a model drawing one shape
for another, or only the first of two, fails.
"""

import io
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from default_models.scene_grammar import COLOURS, SHAPES, SIZE, Scene, Shape, default_background, draw
from hearth.image.v1 import image_service_pb2 as pb
from tests.conftest import session_service
from tests.image_service.image_client import image_stub
from tests.image_service.scene_reading import Reading, colour_centre, read_scene
from tests.service_processes import ServiceProcess

SIDES = ("left", "right")
PROMPTS = [(colour, shape, side) for colour in COLOURS for shape in SHAPES for side in SIDES]
CHANCE_TEXT = f"colour {1 / len(COLOURS):.0%}, shape {1 / len(SHAPES):.0%}, side 50%, all three {1 / len(PROMPTS):.0%}"
MIN_ACCURACY = {"colour": 0.85, "shape": 0.75, "side": 0.9, "all three": 0.7}
SHAPE_COLOURS = [name for name in COLOURS if name not in ("white", "black", "gray")]
PAIRS = [
    (
        *random.Random(index).sample(SHAPE_COLOURS, 2),
        SHAPES[index % len(SHAPES)],
        SHAPES[index // len(SHAPES) % len(SHAPES)],
    )
    for index in range(24)
]
MIN_PAIRS_DRAWN = 0.75
STEPS = 20
SEED = 1


@pytest.fixture(scope="module")
def scenes_service(scenes_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The image service on the scene model, free to batch every prompt of the grid together."""
    yield from session_service(
        "image_service",
        "HEARTH_IMAGE",
        scenes_model_path,
        tmp_path_factory.mktemp("logs"),
        HEARTH_IMAGE_MAX_BATCH_IMAGES=str(len(PROMPTS) // 2),
        HEARTH_IMAGE_MAX_QUEUE=str(len(PROMPTS)),
        HEARTH_IMAGE_BATCH_WAIT_MS="1000",
    )


def prompt_text(colour: str, shape: str, side: str) -> str:
    return f"{'an' if colour[0] in 'aeiou' else 'a'} {colour} {shape} on the {side}"


def draw_all(service: ServiceProcess, prompts: list[str]) -> list[Image.Image]:
    """One picture per prompt, every request in flight at once and none giving a size."""
    with image_stub(service) as stub, ThreadPoolExecutor(len(prompts)) as pool:

        def draw(prompt: str) -> Image.Image:
            params = pb.ImageParams(prompt=prompt, num_inference_steps=STEPS, seed=SEED)
            reply = stub.Generate(pb.GenerateRequest(params=params), timeout=600)
            return Image.open(io.BytesIO(reply.images[0].data))

        return list(pool.map(draw, prompts))


def test_the_measure_reads_the_grammars_own_drawings_of_the_grid() -> None:
    rng = random.Random(0)
    wrong = []
    for colour, shape, side in PROMPTS:
        scene = Scene((Shape(shape, colour, "", f"on the {side}"),), default_background([colour]), False)
        if read_scene(draw(scene, rng)) != Reading(colour, shape, side):
            wrong.append((colour, shape, side))

    assert wrong == []


def test_the_grid_of_prompts_is_drawn_as_asked_at_the_native_size(
    scenes_service: ServiceProcess, capsys: pytest.CaptureFixture
) -> None:
    images = draw_all(scenes_service, [prompt_text(*prompt) for prompt in PROMPTS])

    right = dict.fromkeys(MIN_ACCURACY, 0)
    for (colour, shape, side), image in zip(PROMPTS, images, strict=True):
        found = read_scene(image) or Reading("", "", "")
        checks = {"colour": found.colour == colour, "shape": found.shape == shape, "side": found.side == side}
        for name, ok in checks.items():
            right[name] += ok
        right["all three"] += all(checks.values())
    accuracy = {name: count / len(PROMPTS) for name, count in right.items()}
    with capsys.disabled():
        report = ", ".join(f"{name} {value:.0%}" for name, value in accuracy.items())
        print(f"\nscene model on {len(PROMPTS)} prompts: {report} (chance: {CHANCE_TEXT})")

    assert {image.size for image in images} == {(SIZE, SIZE)}
    assert {name: value for name, value in accuracy.items() if value < MIN_ACCURACY[name]} == {}


def test_two_shapes_joined_by_and_are_both_drawn_each_on_its_own_side(
    scenes_service: ServiceProcess, capsys: pytest.CaptureFixture
) -> None:
    prompts = [
        f"{prompt_text(left, left_shape, 'left')} and {prompt_text(right, right_shape, 'right')}"
        for left, right, left_shape, right_shape in PAIRS
    ]
    images = draw_all(scenes_service, prompts)

    drawn = 0
    for (left, right, *_), image in zip(PAIRS, images, strict=True):
        at_left, at_right = colour_centre(image, left), colour_centre(image, right)
        drawn += at_left is not None and at_right is not None and at_left[1] < at_right[1]
    with capsys.disabled():
        print(
            f"\nscene model on {len(PAIRS)} two-shape prompts: both drawn, each on its side, {drawn / len(PAIRS):.0%}"
        )

    assert drawn / len(PAIRS) >= MIN_PAIRS_DRAWN
