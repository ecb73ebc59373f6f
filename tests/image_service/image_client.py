"""What the image service tests share: a stub on the session service, small requests, errors and logs."""

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import numpy as np
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from hearth.image.v1 import image_service_pb2 as pb
from hearth.image.v1 import image_service_pb2_grpc as pb_grpc
from serving_core.request_errors import ERROR_DOMAIN
from tests.service_processes import ServiceProcess

SMALL = {"prompt": "a lighthouse at dusk", "num_inference_steps": 3, "width": 64, "height": 64, "seed": 7}


@contextmanager
def image_stub(service: ServiceProcess) -> Iterator[pb_grpc.ImageGenerationServiceStub]:
    with grpc.insecure_channel(service.target) as channel:
        yield pb_grpc.ImageGenerationServiceStub(channel)


def image_params(**fields: Any) -> pb.ImageParams:
    """A small, fast request (64x64, 3 steps, seed 7) with the given fields changed."""
    return pb.ImageParams(**{**SMALL, **fields})


def generate(stub: pb_grpc.ImageGenerationServiceStub, request_id: str = "", **fields: Any) -> pb.GenerateResponse:
    return stub.Generate(pb.GenerateRequest(params=image_params(**fields), request_id=request_id), timeout=120)


def stream(
    stub: pb_grpc.ImageGenerationServiceStub, request_id: str = "", **fields: Any
) -> list[pb.GenerateStreamResponse]:
    request = pb.GenerateStreamRequest(params=image_params(**fields), request_id=request_id)
    return list(stub.GenerateStream(request, timeout=120))


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def encoded(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def input_image(width: int = 64, height: int = 64, seed: int = 0) -> Image.Image:
    """A picture to edit: coloured blocks of 8x8 pixels, different for each seed."""
    blocks = np.random.default_rng(seed).integers(0, 256, size=(height // 8, width // 8, 3), dtype=np.uint8)
    return Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1))


def left_half_mask(width: int = 64, height: int = 64) -> Image.Image:
    """White (redraw) on the left half, black (keep) on the right."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, 0, width // 2, height))
    return mask


def bad_field(error: grpc.RpcError) -> str:
    """The field named by the error's google.rpc.BadRequest detail (whose ErrorInfo says INVALID_FIELD)."""
    status = rpc_status.from_call(error)
    assert status is not None, "no rich status on the error"
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("INVALID_FIELD", ERROR_DOMAIN)
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            return bad_request.field_violations[0].field
    raise AssertionError(f"no BadRequest detail in {status}")


def log_records(service: ServiceProcess, message: str, request_id: str, timeout: float = 10) -> list[dict[str, Any]]:
    """The service's JSON log lines with the given message that mention request_id.

    A reply reaches the client just before the service writes the request's line, so this waits for one.
    """
    deadline = time.monotonic() + timeout
    while True:
        records = []
        for line in service.log_path.read_text(errors="replace").splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            mentioned = record.get("request_id") == request_id or request_id in record.get("request_ids", [])
            if record.get("msg") == message and mentioned:
                records.append(record)
        if records or time.monotonic() > deadline:
            return records
        time.sleep(0.05)
