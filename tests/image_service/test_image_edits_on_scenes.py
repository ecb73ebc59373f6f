"""Issue 18's acceptance on the embedded scene model, whose VAE reconstructs its scenes.

Image-to-image at a strength near 0 gives back the input and at 1 ignores it, and in between takes the
prompt's colour where the input has its shape; inpainting keeps the unmasked pixels and draws the prompt in
the masked ones; the last preview looks like the final picture. The weight-independent
properties of the same paths are checked on the tiny random pipeline in test_image_edits.py.
"""

import io
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from default_models.scene_grammar import Scene, Shape, draw
from tests.conftest import session_service
from tests.image_service.image_client import encoded, generate, image_stub, left_half_mask, pixels, stream
from tests.image_service.scene_reading import read_scene
from tests.service_processes import ServiceProcess

STEPS = 20
# Mean absolute difference per 8-bit value: the scene VAE's own round trip loses about 5, the one denoising
# step at the quiet end of the schedule (strength 0.02 of 50 steps) about 2 more with the committed model.
ALMOST_THE_INPUT = 12
PROMPT = "a green star in the center"
RED_CIRCLE = Scene((Shape("circle", "red", "big", "on the left"),), "white", background_named=False)
BLUE_SQUARE = Scene((Shape("square", "blue", "big", "on the right"),), "black", background_named=True)
# (shape, its colour in the input, the colour the prompt asks for); each drawn once on either side
RECOLOURS = [
    ("circle", "red", "blue"),
    ("square", "blue", "yellow"),
    ("triangle", "green", "red"),
    ("star", "yellow", "purple"),
    ("circle", "orange", "green"),
    ("square", "pink", "cyan"),
    ("triangle", "purple", "orange"),
    ("star", "cyan", "pink"),
]
RECOLOUR_STRENGTH = 0.5
# The committed model recolours 16 and 14 of 16 in place (seeds 3 and 4). At strength 1, which ignores the
# input, it gets the colour but the side only by chance: 8 of 16; 12 or more by chance is 4% likely.
MIN_RECOLOURED = 12


@pytest.fixture(scope="module")
def scenes_service(scenes_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    yield from session_service("image_service", "HEARTH_IMAGE", scenes_model_path, tmp_path_factory.mktemp("logs"))


def scene_image(scene: Scene) -> Image.Image:
    return draw(scene, random.Random(0))


def mean_difference(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.abs(first.astype(np.int16) - second.astype(np.int16)).mean())


def edit(service: ServiceProcess, source: Image.Image, prompt: str = PROMPT, **fields: object) -> np.ndarray:
    """One edit at the input's own size."""
    fields = {"width": None, "height": None, "num_inference_steps": STEPS, **fields}
    with image_stub(service) as stub:
        reply = generate(stub, prompt=prompt, init_image=encoded(source), **fields)
    return pixels(reply.images[0].data)


def test_image_to_image_gives_back_the_input_near_strength_0_and_ignores_it_at_1(
    scenes_service: ServiceProcess,
) -> None:
    sources = [scene_image(RED_CIRCLE), scene_image(BLUE_SQUARE)]
    originals = [np.asarray(source) for source in sources]

    near_zero = edit(scenes_service, sources[0], strength=0.02, num_inference_steps=50, seed=3)
    full = [edit(scenes_service, source, strength=1.0, seed=3) for source in sources]

    assert mean_difference(near_zero, originals[0]) < ALMOST_THE_INPUT
    assert mean_difference(full[0], full[1]) < 0.1 * mean_difference(*originals)


def test_image_to_image_takes_the_prompts_colour_and_keeps_the_inputs_place(
    scenes_service: ServiceProcess, capsys: pytest.CaptureFixture
) -> None:
    recoloured = 0
    for (shape, colour, new_colour), side in itertools.product(RECOLOURS, ("left", "right")):
        source = scene_image(Scene((Shape(shape, colour, "big", f"on the {side}"),), "white", False))

        result = edit(scenes_service, source, f"a big {new_colour} {shape}", strength=RECOLOUR_STRENGTH, seed=3)

        drawn = read_scene(Image.fromarray(result.astype(np.uint8)))
        recoloured += drawn is not None and (drawn.colour, drawn.side) == (new_colour, side)
    with capsys.disabled():
        print(f"\nimage-to-image: {recoloured} of {2 * len(RECOLOURS)} in the prompt's colour on the input's side")
    assert recoloured >= MIN_RECOLOURED


def test_inpainting_keeps_the_unmasked_pixels_and_draws_the_prompt_in_the_masked_ones(
    scenes_service: ServiceProcess,
) -> None:
    source = scene_image(RED_CIRCLE)
    original = np.asarray(source, dtype=np.int16)
    redraw_right = left_half_mask().transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    result = edit(
        scenes_service,
        source,
        prompt="a red circle on the left and a blue square on the right",
        mask_image=encoded(redraw_right),
        seed=5,
    )

    assert np.abs(result[:, :32] - original[:, :32]).max() <= 1
    assert mean_difference(result[:, 32:], original[:, 32:]) > 10
    drawn = read_scene(Image.fromarray(result[:, 32:].astype(np.uint8)))
    assert drawn is not None
    assert drawn.colour == "blue"


def test_the_last_preview_looks_like_the_final_picture(scenes_service: ServiceProcess) -> None:
    finals, previews = [], []
    with image_stub(scenes_service) as stub:
        for prompt in ("a big red circle in the center", "a big blue square in the center on a black background"):
            messages = stream(stub, prompt=prompt, num_inference_steps=STEPS, seed=4, preview_every=STEPS)
            last = [m.progress.preview for m in messages if m.HasField("progress")][-1]
            preview = Image.open(io.BytesIO(last.data)).convert("RGB")
            final = Image.open(io.BytesIO(messages[-1].image.data)).convert("RGB")
            previews.append(np.asarray(preview))
            finals.append(np.asarray(final.resize(preview.size, Image.Resampling.BOX)))

    for own, other in ((0, 1), (1, 0)):
        assert mean_difference(previews[own], finals[own]) < 0.45 * mean_difference(previews[own], finals[other])
