"""Edits and previews through the real gateway and image service (the original route, SSE, the openai SDK),
and the null size that leaves the model its native size (over the fakes)."""

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from httpx_sse import connect_sse
from PIL import Image

from tests.http_gateway.fake_backends import FakeBackend
from tests.image_service.image_client import encoded, input_image, left_half_mask, pixels

SMALL = {"prompt": "a red square", "num_inference_steps": 4, "seed": 3}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def stream_events(gateway_http: httpx.Client, body: dict) -> list[tuple[str, dict]]:
    with connect_sse(gateway_http, "POST", "/generate-image", json={**body, "stream": True}) as source:
        assert source.response.status_code == 200
        return [(event.event, event.json()) for event in source.iter_sse()]


def test_the_openai_sdk_inpaints_with_images_edit(gateway_sdk: openai.OpenAI) -> None:
    source = input_image(seed=5)
    reply = gateway_sdk.images.edit(
        image=("in.png", encoded(source), "image/png"),
        mask=("mask.png", encoded(left_half_mask()), "image/png"),
        prompt="a red square",
        n=2,
        size="64x64",
        response_format="b64_json",
    )

    assert len(reply.data) == 2
    for image in reply.data:
        result = pixels(base64.b64decode(image.b64_json or ""))
        assert np.abs(result[:, 32:] - np.asarray(source, dtype=np.int16)[:, 32:]).max() <= 1


def test_the_openai_sdk_edits_without_a_mask_at_the_input_size(gateway_sdk: openai.OpenAI) -> None:
    reply = gateway_sdk.images.edit(
        image=("in.webp", encoded(input_image(96, 64), "WEBP"), "image/webp"), prompt="a cat"
    )

    decoded = Image.open(io.BytesIO(base64.b64decode(reply.data[0].b64_json or "")))
    assert decoded.size == (96, 64)


def test_an_undecodable_upload_reaches_the_sdk_as_a_bad_request_naming_image(gateway_sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        gateway_sdk.images.edit(image=("in.png", b"not a png", "image/png"), prompt="x")

    assert refused.value.status_code == 400
    assert refused.value.body["param"] == "image"  # type: ignore[index]


def test_the_original_route_edits_a_data_url_at_its_own_size(gateway_http: httpx.Client) -> None:
    data_url = "data:image/jpeg;base64," + b64(encoded(input_image(104, 64), "JPEG"))
    reply = gateway_http.post("/generate-image", json={**SMALL, "init_image_base64": data_url, "strength": 0.5})

    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["width"], body["height"]) == (104, 64)
    assert Image.open(io.BytesIO(base64.b64decode(body["image_base64"]))).size == (104, 64)


@pytest.mark.parametrize("edit", [False, True], ids=["text", "inpainting"])
def test_sse_previews_come_with_every_progress_event_and_leave_the_image_alone(
    gateway_http: httpx.Client, edit: bool
) -> None:
    body = {**SMALL, "width": 64, "height": 64}
    if edit:
        body |= {"init_image_base64": b64(encoded(input_image())), "mask_base64": b64(encoded(left_half_mask()))}
    with_previews = stream_events(gateway_http, {**body, "preview_every": 1})
    without = stream_events(gateway_http, body)

    progress = [data for name, data in with_previews if name == "progress"]
    assert [data["step"] for data in progress] == [1, 2, 3, 4]
    for data in progress:
        preview = Image.open(io.BytesIO(base64.b64decode(data["preview_base64"])))
        assert (data["preview_mime_type"], data["preview_width"], data["preview_height"]) == ("image/jpeg", 8, 8)
        assert preview.size == (8, 8)
    assert not any("preview_base64" in data for name, data in without if name == "progress")
    images = [[data["image_base64"] for name, data in events if name == "image"] for events in (with_previews, without)]
    assert images[0] == images[1]


@pytest.mark.parametrize(
    ("fields", "param", "limit"),
    [
        ({"init_image_base64": "%%%"}, "init_image_base64", "base64"),
        ({"init_image_base64": b64(b"garbage")}, "init_image_base64", "PNG, JPEG, WEBP"),
        ({"mask_base64": b64(encoded(left_half_mask()))}, "mask_base64", "init_image"),
        (
            {"init_image_base64": b64(encoded(input_image())), "mask_base64": b64(encoded(left_half_mask(64, 72)))},
            "mask_base64",
            "64x64",
        ),
        ({"init_image_base64": b64(encoded(input_image())), "strength": 2}, "strength", "at most 1"),
        ({"init_image_base64": b64(encoded(Image.new("RGB", (2056, 2048))))}, "init_image_base64", "4194304"),
    ],
)
def test_bad_edit_fields_are_a_400_naming_the_field_and_the_limit(
    gateway_http: httpx.Client, fields: dict, param: str, limit: str
) -> None:
    reply = gateway_http.post("/generate-image", json={**SMALL, **fields})

    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param
    assert limit in error["message"]


def test_two_images_to_edit_are_refused(gateway_http: httpx.Client) -> None:
    files = [("image", ("a.png", encoded(input_image()), "image/png"))] * 2
    reply = gateway_http.post("/v1/images/edits", data={"prompt": "x"}, files=files)

    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "image"


async def test_a_null_size_leaves_the_model_its_native_size(client: httpx.AsyncClient, fake_image: FakeBackend) -> None:
    reply = await client.post("/generate-image", json={"prompt": "a hearth", "width": None, "height": None})

    assert reply.status_code == 200, reply.text
    params = fake_image.log.requests[-1].params
    assert not params.HasField("width")
    assert not params.HasField("height")
