"""`hearth image` against the real stack: files written, progress shown, seeds, edits, previews, the gRPC path."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hearth_cli.terminal_output import UPPER_HALF_BLOCK
from tests.cli.hearth_processes import run_hearth
from tests.conftest import session_service
from tests.http_gateway.gateway_process import GatewayProcess, start_gateway
from tests.image_service.image_client import encoded, input_image, left_half_mask, pixels
from tests.image_service.scene_reading import read_scene
from tests.service_processes import ServiceProcess

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = ["--steps", "3", "--size", "64", "--seed", "7"]
NOTHING_LISTENS = "127.0.0.1:9"


def test_image_writes_a_png_and_shows_the_step_progress(gateway: GatewayProcess, tmp_path: Path) -> None:
    output = tmp_path / "fox.png"

    result = run_hearth(["image", "a red fox", "-o", str(output), *SMALL, "--url", gateway.url])

    assert result.returncode == 0, result.stderr
    assert output.read_bytes().startswith(PNG_SIGNATURE)
    assert "3/3 steps" in result.stderr
    assert f"saved {output} (seed 7)" in result.stderr


def test_same_seed_gives_the_same_file_through_the_gateway_and_over_grpc(
    gateway: GatewayProcess, image_service: ServiceProcess, tmp_path: Path
) -> None:
    through_gateway, direct = tmp_path / "gateway.png", tmp_path / "grpc.png"

    first = run_hearth(["image", "a lighthouse", "-o", str(through_gateway), *SMALL, "--url", gateway.url])
    second = run_hearth(["image", "a lighthouse", "-o", str(direct), *SMALL, "--grpc", image_service.target])

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert through_gateway.read_bytes() == direct.read_bytes()


def test_several_images_get_numbered_files_and_consecutive_seeds(gateway: GatewayProcess, tmp_path: Path) -> None:
    output = tmp_path / "set.png"

    args = ["image", "two cats", "-o", str(output), *SMALL, "-n", "2", "--negative", "dogs", "--json"]

    result = run_hearth([*args, "--url", gateway.url])

    assert result.returncode == 0, result.stderr
    images = json.loads(result.stdout)["images"]
    assert [image["path"] for image in images] == [str(tmp_path / "set-0.png"), str(tmp_path / "set-1.png")]
    assert [image["seed"] for image in images] == [7, 8]
    assert all(Path(image["path"]).read_bytes().startswith(PNG_SIGNATURE) for image in images)
    assert not output.exists()


@pytest.mark.parametrize("path", ["gateway", "grpc"])
def test_init_and_mask_inpaint_and_preview_draws_the_picture_above_the_bar(
    path: str, gateway: GatewayProcess, image_service: ServiceProcess, tmp_path: Path
) -> None:
    source, mask, output = tmp_path / "in.png", tmp_path / "mask.png", tmp_path / "out.png"
    source.write_bytes(encoded(input_image(seed=6)))
    mask.write_bytes(encoded(left_half_mask()))
    target = ["--url", gateway.url] if path == "gateway" else ["--grpc", image_service.target]

    args = ["image", "a blue circle", "--init", str(source), "--mask", str(mask), "--strength", "0.75"]
    result = run_hearth([*args, "--steps", "4", "--seed", "2", "--preview", "-o", str(output), *target])

    assert result.returncode == 0, result.stderr
    kept = np.abs(pixels(output.read_bytes())[:, 32:] - pixels(source.read_bytes())[:, 32:])
    assert kept.max() <= 1
    assert "3/3 steps" in result.stderr
    assert UPPER_HALF_BLOCK in result.stderr


def test_without_preview_no_picture_is_drawn_and_a_bad_mask_is_named(gateway: GatewayProcess, tmp_path: Path) -> None:
    source, mask = tmp_path / "in.png", tmp_path / "mask.png"
    source.write_bytes(encoded(input_image()))
    mask.write_bytes(encoded(left_half_mask(64, 72)))

    output = str(tmp_path / "a.png")
    plain = run_hearth(["image", "x", "--init", str(source), *SMALL, "-o", output, "--url", gateway.url])
    refused = run_hearth(["image", "x", "--init", str(source), "--mask", str(mask), "--url", gateway.url])

    assert plain.returncode == 0, plain.stderr
    assert UPPER_HALF_BLOCK not in plain.stderr
    assert refused.returncode != 0
    assert "mask_base64" in refused.stderr


@pytest.fixture(scope="module")
def scenes_gateway(scenes_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway in front of the image service on the embedded scene model (and no text service)."""
    logs = tmp_path_factory.mktemp("logs")
    with contextmanager(session_service)("image_service", "HEARTH_IMAGE", scenes_model_path, logs) as service:
        gateway = start_gateway(NOTHING_LISTENS, service.target, logs / "http_gateway.log")
        try:
            yield gateway.wait_until_answering("/health")
        finally:
            gateway.stop()


def test_an_unsized_image_is_drawn_at_the_models_native_size(scenes_gateway: GatewayProcess, tmp_path: Path) -> None:
    output = tmp_path / "circle.png"

    args = ["image", "a red circle on the left", "--steps", "20", "--seed", "1", "-o", str(output)]
    result = run_hearth([*args, "--url", scenes_gateway.url])

    assert result.returncode == 0, result.stderr
    picture = Image.open(output)
    assert picture.size == (64, 64)
    reading = read_scene(picture)
    assert reading is not None
    assert (reading.colour, reading.side) == ("red", "left")
