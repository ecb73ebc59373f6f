"""Edits and previews over gRPC on the tiny random pipeline: the properties that hold whatever the weights.

Its VAE reconstructs nothing, so "strength near 0 returns the input" cannot hold here; what does hold is that
the output depends on the input far more at a small strength than at 1, that inpainting keeps the unmasked
pixels, that progress counts the steps an edit runs, and that previews never change the final image.
"""

import io
import math
from hashlib import sha256

import grpc
import numpy as np
import pytest
from PIL import Image

from hearth.image.v1 import image_service_pb2 as pb
from tests.image_service.image_client import (
    bad_field,
    encoded,
    generate,
    image_stub,
    input_image,
    left_half_mask,
    pixels,
    stream,
)
from tests.service_processes import ServiceProcess


def mean_difference(first: bytes, second: bytes) -> float:
    return float(np.abs(pixels(first) - pixels(second)).mean())


def test_image_to_image_follows_the_input_far_more_at_low_strength_than_at_full(image_service: ServiceProcess) -> None:
    inputs = [encoded(input_image(seed=seed)) for seed in (1, 2)]
    with image_stub(image_service) as stub:
        low = [generate(stub, init_image=data, strength=0.05, num_inference_steps=20) for data in inputs]
        full = [generate(stub, init_image=data, strength=1.0) for data in inputs]

    low_spread = mean_difference(low[0].images[0].data, low[1].images[0].data)
    full_spread = mean_difference(full[0].images[0].data, full[1].images[0].data)
    assert low_spread > 5 * full_spread


def openai_mask() -> Image.Image:
    """OpenAI's mask convention: the picture itself, fully transparent where it is to be redrawn (the left half)."""
    mask = input_image(seed=9).convert("RGBA")
    mask.putalpha(Image.eval(left_half_mask(), lambda value: 255 - value))
    return mask


@pytest.mark.parametrize("mask", [left_half_mask(), openai_mask()], ids=["white-redraws", "transparent-redraws"])
def test_inpainting_keeps_the_unmasked_pixels_and_changes_the_masked_ones(
    image_service: ServiceProcess, mask: Image.Image
) -> None:
    source = input_image(seed=3)
    with image_stub(image_service) as stub:
        reply = generate(stub, init_image=encoded(source), mask_image=encoded(mask))

    result = pixels(reply.images[0].data)
    original = np.asarray(source, dtype=np.int16)
    assert np.abs(result[:, 32:] - original[:, 32:]).max() <= 1
    assert np.abs(result[:, :32] - original[:, :32]).mean() > 10


def test_the_same_edit_and_seed_give_byte_identical_pngs(image_service: ServiceProcess) -> None:
    fields = {"init_image": encoded(input_image(seed=7)), "mask_image": encoded(left_half_mask()), "seed": 21}
    with image_stub(image_service) as stub:
        first, second = generate(stub, **fields), generate(stub, **fields)
        other_seed = generate(stub, **{**fields, "seed": 22})

    assert first.images[0].data == second.images[0].data
    assert other_seed.images[0].data != first.images[0].data


@pytest.mark.parametrize(("strength", "steps", "steps_run"), [(0.5, 6, 3), (0.34, 3, 1), (1.0, 4, 4)])
def test_progress_counts_the_steps_an_edit_really_runs(
    image_service: ServiceProcess, strength: float, steps: int, steps_run: int
) -> None:
    with image_stub(image_service) as stub:
        messages = stream(stub, init_image=encoded(input_image()), strength=strength, num_inference_steps=steps)

    progress = [(m.progress.step, m.progress.total_steps) for m in messages if m.HasField("progress")]
    assert progress == [(step, steps_run) for step in range(1, steps_run + 1)]


def test_the_size_defaults_to_the_input_rounded_down_to_a_multiple_of_8(image_service: ServiceProcess) -> None:
    source = input_image(104, 72).crop((0, 0, 101, 70))
    with image_stub(image_service) as stub:
        reply = generate(stub, init_image=encoded(source, "WEBP"), width=None, height=None)

    assert (reply.images[0].width, reply.images[0].height) == (96, 64)
    assert Image.open(io.BytesIO(reply.images[0].data)).size == (96, 64)


def test_png_metadata_records_the_mode_strength_and_input_hashes(image_service: ServiceProcess) -> None:
    source, mask = encoded(input_image(), "JPEG"), encoded(left_half_mask())
    with image_stub(image_service) as stub:
        reply = generate(stub, init_image=source, mask_image=mask, strength=0.75, num_inference_steps=4, seed=5)

    parameters = Image.open(io.BytesIO(reply.images[0].data)).text["parameters"]
    settings = parameters.splitlines()[-1]
    assert "Mode: inpaint, Denoising strength: 0.75" in settings
    assert f"Init image hash: sha256:{sha256(source).hexdigest()}" in settings
    assert f"Mask hash: sha256:{sha256(mask).hexdigest()}" in settings


@pytest.mark.parametrize("edit", [{}, {"strength": 0.5}], ids=["text", "image-to-image"])
def test_previews_come_on_every_step_at_an_eighth_of_the_size_and_leave_the_image_alone(
    image_service: ServiceProcess, edit: dict
) -> None:
    fields = {"width": 96, "height": 64, "num_inference_steps": 4, "seed": 11}
    if edit:
        fields |= {"init_image": encoded(input_image(96, 64)), **edit}
    with image_stub(image_service) as stub:
        with_previews = stream(stub, preview_every=1, **fields)
        without = stream(stub, preview_every=0, **fields)

    progress = [m.progress for m in with_previews if m.HasField("progress")]
    assert progress
    for message in progress:
        assert (message.preview.mime_type, message.preview.width, message.preview.height) == ("image/jpeg", 12, 8)
        assert Image.open(io.BytesIO(message.preview.data)).size == (12, 8)
    assert not any(m.progress.HasField("preview") for m in without if m.HasField("progress"))
    assert with_previews[-1].image.data == without[-1].image.data


def test_previews_every_n_steps_include_the_last_one(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        messages = stream(stub, num_inference_steps=5, preview_every=2)

    with_preview = [m.progress.step for m in messages if m.HasField("progress") and m.progress.HasField("preview")]
    assert with_preview == [2, 4, 5]


def test_model_info_lists_the_modes_and_the_input_limits(image_service: ServiceProcess) -> None:
    with image_stub(image_service) as stub:
        info = stub.GetModelInfo(pb.GetModelInfoRequest(), timeout=30)

    assert list(info.modes) == [pb.IMAGE_MODE_TEXT_TO_IMAGE, pb.IMAGE_MODE_IMAGE_TO_IMAGE, pb.IMAGE_MODE_INPAINTING]
    assert (info.limits.max_input_bytes, info.limits.max_input_pixels) == (16 * 2**20, 2048 * 2048)
    assert list(info.limits.input_formats) == ["image/png", "image/jpeg", "image/webp"]
    assert (info.defaults.image_to_image_strength, info.defaults.inpainting_strength) == (pytest.approx(0.8), 1.0)


BAD_EDITS = [
    ({"init_image": b"not an image"}, "init_image", "PNG, JPEG, WEBP"),
    ({"init_image": encoded(input_image())[:100]}, "init_image", "PNG, JPEG, WEBP"),
    ({"init_image": encoded(input_image(), "GIF")}, "init_image", "PNG, JPEG, WEBP"),
    ({"init_image": b"\0" * (16 * 2**20 + 1)}, "init_image", str(16 * 2**20)),
    ({"init_image": encoded(Image.new("RGB", (2049, 2049)))}, "init_image", str(2048 * 2048)),
    ({"init_image": encoded(input_image()), "mask_image": b"garbage"}, "mask_image", "PNG, JPEG, WEBP"),
    ({"init_image": encoded(input_image()), "mask_image": encoded(left_half_mask(64, 72))}, "mask_image", "64x64"),
    ({"mask_image": encoded(left_half_mask())}, "mask_image", "init_image"),
    ({"strength": 0.5}, "strength", "init_image"),
    ({"init_image": encoded(input_image()), "strength": 1.5}, "strength", "at most 1"),
    ({"init_image": encoded(input_image()), "strength": 0.0}, "strength", "greater than 0"),
    ({"init_image": encoded(input_image()), "strength": math.nan}, "strength", "at most 1"),
    ({"init_image": encoded(input_image()), "strength": 0.2, "num_inference_steps": 3}, "strength", "at least 1 step"),
    ({"init_image": encoded(input_image(32, 32))}, "width", "64"),
]


@pytest.mark.parametrize(("fields", "field", "limit"), BAD_EDITS)
def test_bad_edit_inputs_are_refused_naming_the_field_and_the_limit(
    image_service: ServiceProcess, fields: dict, field: str, limit: str
) -> None:
    fields = {"width": None, "height": None, **fields} if "init_image" in fields else fields
    with image_stub(image_service) as stub, pytest.raises(grpc.RpcError) as refused:
        generate(stub, **fields)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_field(refused.value) == field
    assert limit in refused.value.details()
